/*
 * endpointctl's HTTP client.  One curl easy handle, reset between requests
 * so that its connection cache survives (a wait polls DescribeEndpoint over
 * one connection).  Control-plane answers are buffered (with a hard
 * maximum); an invocation's successful body is streamed to its FILE as it
 * comes, error bodies are buffered so that they can be parsed.
 *
 * Signing: each request's headers are listed once (struct client_headers)
 * and that one list is both signed (auth_sign, as botocore signs: every
 * header sent but User-Agent and Expect) and handed to curl, with the Host
 * header set explicitly so that what the daemon reads is what was signed.
 * A body is hashed once, where it lies.
 */
#define _GNU_SOURCE
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "text.h"
#include "util.h"

#define CLIENT_CONNECT_TIMEOUT_S 10L
#define CLIENT_CALL_TIMEOUT_S 60L
/* InvokeEndpoint: the daemon times containers out itself (60 s default). */
#define CLIENT_INVOKE_TIMEOUT_S 900L
/* A control-plane page is tens of KiB; anything near this is not endpointd. */
#define CLIENT_MAX_ANSWER (16u * 1024 * 1024)
#define CLIENT_MAX_ERROR_BODY (1024u * 1024)
/* Every request's headers, the signer's included. */
#define CLIENT_MAX_HEADERS 16
/* The service every request is signed for, the runtime's included (as
 * botocore's sagemaker-runtime signs). */
#define CLIENT_SIGNING_SERVICE "sagemaker"
#define CLIENT_DEFAULT_REGION "us-east-1"

volatile sig_atomic_t client_interrupted;

struct client {
	char *url;           /* as the user wrote it, for messages */
	char *base;          /* http://host:port (no trailing slash) */
	char *prefix;        /* the path in base after host:port ("" for none) */
	char *host;          /* the Host header: host[:port], the port left out when default */
	char *unix_path;     /* NULL for TCP */
	char *access_key_id; /* NULL: unsigned */
	char *secret_access_key;
	char *session_token;
	char *region;
	char *ca_bundle;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
};

/* The headers of one request, in the order they are sent (values borrowed). */
struct client_headers {
	const char *names[CLIENT_MAX_HEADERS];
	const char *values[CLIENT_MAX_HEADERS];
	size_t n;
};

/* One answer as it arrives. */
struct client_response {
	CURL *curl;
	struct buf body;
	FILE *stream; /* successful bodies go here when set */
	int stream_errno;
	bool too_big;
	char *error_type;
	char *invoked_variant;
	char *content_type;
	char *custom_attributes;
};

/* Frees what a response collected. */
static void client_response_clear(struct client_response *r)
{
	buf_reset(&r->body);
	free(r->error_type);
	free(r->invoked_variant);
	free(r->content_type);
	free(r->custom_attributes);
	r->error_type = r->invoked_variant = r->content_type = r->custom_attributes = NULL;
}

/* The Host header of a TCP base URL, as botocore's _host_from_url makes it:
 * the host in lower case, the port unless it is the scheme's default. */
static char *client_host(const char *base, char **ret_prefix)
{
	bool https = str_has_prefix(base, "https://");
	const char *authority = strstr(base, "://") + 3;
	size_t n = strcspn(authority, "/");
	*ret_prefix = xstrdup(authority + n);
	const char *at = memrchr(authority, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - authority);
		authority = at + 1;
	}
	_cleanup_free_ char *raw = xstrndup(authority, n);
	char *host = str_tolower(raw);
	const char *colon = strrchr(host, ':');
	if (colon && !strchr(colon, ']') && strcmp(colon + 1, https ? "443" : "80") == 0)
		host[colon - host] = '\0';
	return host;
}

/* Checks the URL, splits off the Unix socket path, and keeps what the
 * client signs with and trusts. */
int client_new(const char *url, const struct client_options *opts, struct client **ret_client,
               char **ret_error)
{
	_cleanup_free_ char *base = NULL, *unix_path = NULL, *host = NULL, *prefix = NULL;

	if (str_has_prefix(url, "unix:")) {
		const char *p = url + strlen("unix:");
		/* unix:///run/x.sock reads as unix:/run/x.sock */
		if (str_has_prefix(p, "//"))
			p += 2;
		if (p[0] != '/') {
			*ret_error = xasprintf("%s: a Unix socket URL needs an absolute path, "
			                       "as in unix:/run/endpointd.sock",
			                       url);
			return -EINVAL;
		}
		unix_path = xstrdup(p);
		base = xstrdup("http://localhost");
		host = xstrdup("localhost");
		prefix = xstrdup("");
	} else if (str_has_prefix(url, "http://") || str_has_prefix(url, "https://")) {
		size_t n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		base = xstrndup(url, n);
		const char *authority = strstr(base, "://") + 3;
		if (*authority == '\0' || *authority == '/' || strchr(base, '?') ||
		    strchr(base, '#')) {
			*ret_error = xasprintf("%s: not a URL of endpointd (http://HOST:PORT, "
			                       "https://HOST:PORT or unix:/PATH)",
			                       url);
			return -EINVAL;
		}
		host = client_host(base, &prefix);
	} else {
		*ret_error = xasprintf("%s: not a URL of endpointd (http://HOST:PORT, "
		                       "https://HOST:PORT or unix:/PATH)",
		                       url);
		return -EINVAL;
	}

	CURL *curl = curl_easy_init();
	if (!curl) {
		*ret_error = xstrdup("libcurl failed to initialise");
		return -ENOMEM;
	}
	struct client *c = xcalloc(1, sizeof(*c));
	c->url = xstrdup(url);
	c->base = TAKE_PTR(base);
	c->host = TAKE_PTR(host);
	c->prefix = TAKE_PTR(prefix);
	c->unix_path = TAKE_PTR(unix_path);
	c->curl = curl;
	if (opts && opts->access_key_id) {
		c->access_key_id = xstrdup(opts->access_key_id);
		c->secret_access_key =
		    xstrdup(opts->secret_access_key ? opts->secret_access_key : "");
		c->session_token = opts->session_token ? xstrdup(opts->session_token) : NULL;
	}
	c->region = xstrdup(opts && opts->region ? opts->region : CLIENT_DEFAULT_REGION);
	c->ca_bundle = opts && opts->ca_bundle ? xstrdup(opts->ca_bundle) : NULL;
	*ret_client = c;
	return 0;
}

/* NULL-safe. */
struct client *client_free(struct client *c)
{
	if (!c)
		return NULL;
	curl_easy_cleanup(c->curl);
	if (c->secret_access_key)
		explicit_bzero(c->secret_access_key, strlen(c->secret_access_key));
	if (c->session_token)
		explicit_bzero(c->session_token, strlen(c->session_token));
	free(c->url);
	free(c->base);
	free(c->host);
	free(c->prefix);
	free(c->unix_path);
	free(c->access_key_id);
	free(c->secret_access_key);
	free(c->session_token);
	free(c->region);
	free(c->ca_bundle);
	free(c);
	return NULL;
}

/* Empties an error for reuse. */
void client_error_clear(struct client_error *err)
{
	free(err->code);
	free(err->message);
	*err = (struct client_error){0};
}

/* Sets an error of the given kind; takes message. */
static void client_error_set(struct client_error *err, enum client_error_kind kind, char *code,
                             char *message)
{
	client_error_clear(err);
	err->kind = kind;
	err->code = code;
	err->message = message;
}

/* The message of an error, as operators read it (escaped: a model's words
 * may be in it). */
void client_error_print(const struct client_error *err)
{
	_cleanup_free_ char *code = text_escape(err->code);
	_cleanup_free_ char *message = text_escape(err->message);
	if (err->kind == CLIENT_ERROR_API && code)
		fprintf(stderr, "endpointctl: %s: %s\n", code, message ? message : "");
	else
		fprintf(stderr, "endpointctl: %s\n", message ? message : "failed");
}

/* A copy of a header's value without the line end and surrounding blanks. */
static char *client_header_value(const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n > 0 &&
	       (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return xstrndup(v, n);
}

/* CURLOPT_HEADERFUNCTION: keeps the few headers endpointctl reads. */
static size_t client_header_cb(char *data, size_t size, size_t n, void *userdata)
{
	struct client_response *r = userdata;
	size_t len = size * n;
	static const struct {
		const char *name;
		size_t offset;
	} wanted[] = {
	    {"x-amzn-ErrorType", offsetof(struct client_response, error_type)},
	    {"x-Amzn-Invoked-Production-Variant",
	     offsetof(struct client_response, invoked_variant)},
	    {"Content-Type", offsetof(struct client_response, content_type)},
	    {"X-Amzn-SageMaker-Custom-Attributes",
	     offsetof(struct client_response, custom_attributes)},
	};

	/* A new status line (after "100 Continue"): a new set of headers. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		client_response_clear(r);
		return len;
	}
	for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
		size_t k = strlen(wanted[i].name);
		if (len > k && data[k] == ':' && strncasecmp(data, wanted[i].name, k) == 0) {
			char **slot = (char **)((char *)r + wanted[i].offset);
			free(*slot);
			*slot = client_header_value(data + k + 1, len - k - 1);
		}
	}
	return len;
}

/* CURLOPT_WRITEFUNCTION: stream a successful body, buffer the rest. */
static size_t client_write_cb(char *data, size_t size, size_t n, void *userdata)
{
	struct client_response *r = userdata;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (r->stream && status >= 200 && status < 300) {
		if (fwrite(data, 1, len, r->stream) != len) {
			r->stream_errno = errno ? errno : EIO;
			return 0;
		}
		return len;
	}
	if (buf_append(&r->body, data, len) < 0) {
		r->too_big = true;
		return 0;
	}
	return len;
}

/* CURLOPT_XFERINFOFUNCTION: give up on Ctrl-C. */
static int client_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                              curl_off_t ultotal, curl_off_t ulnow)
{
	return client_interrupted ? 1 : 0;
}

/* Whether a curl error means the daemon was never reached at all. */
static bool client_is_connect_error(CURLcode res)
{
	return res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
	       res == CURLE_COULDNT_RESOLVE_PROXY || res == CURLE_UNSUPPORTED_PROTOCOL ||
	       res == CURLE_SSL_CONNECT_ERROR || res == CURLE_PEER_FAILED_VERIFICATION;
}

/*
 * Runs one request set up on c->curl (URL, body, headers) and fills r.
 * Returns 0 when an answer came (any status), -1 with err set otherwise.
 */
static int client_perform(struct client *c, struct curl_slist *headers, long timeout_s,
                          struct client_response *r, struct client_error *err)
{
	CURL *curl = c->curl;

	r->curl = curl;
	c->errbuf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->errbuf);
	if (c->unix_path)
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	if (c->ca_bundle)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_bundle);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "endpointctl/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, client_header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, client_progress_cb);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);

	CURLcode res = curl_easy_perform(curl);
	if (res == CURLE_OK)
		return 0;

	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
	enum client_error_kind kind = CLIENT_ERROR_TRANSPORT;
	long os_errno = 0;
	char *message;
	if (res == CURLE_ABORTED_BY_CALLBACK && client_interrupted) {
		kind = CLIENT_ERROR_INTERRUPTED;
		message = xstrdup("interrupted");
	} else if (r->stream_errno) {
		message = xasprintf("writing the answer: %s", strerror(r->stream_errno));
	} else if (r->too_big) {
		message =
		    xasprintf("the answer of %s is larger than %zu bytes", c->url, r->body.max);
	} else if (res == CURLE_PEER_FAILED_VERIFICATION) {
		message = xasprintf("cannot trust endpointd at %s: its TLS certificate does not "
		                    "verify against %s: %s",
		                    c->url, c->ca_bundle ? c->ca_bundle : "the system's CAs", why);
	} else if (res == CURLE_SSL_CACERT_BADFILE) {
		message = xasprintf("cannot use the CA bundle %s: %s",
		                    c->ca_bundle ? c->ca_bundle : "of the system", why);
	} else if (client_is_connect_error(res)) {
		/* "Connection refused" says more than curl's "Failed to connect to
		 * localhost port 80", which is what it says for a Unix socket. */
		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
		message = xasprintf("cannot reach endpointd at %s: %s", c->url,
		                    os_errno ? strerror((int)os_errno) : why);
	} else {
		message = xasprintf("no answer from endpointd at %s: %s", c->url, why);
	}
	client_error_set(err, kind, NULL, message);
	return -1;
}

/* The code of an AWS error name: "ns#Code" and "Code:uri" give "Code". */
static char *client_error_code(const char *s)
{
	const char *hash = strrchr(s, '#');
	if (hash)
		s = hash + 1;
	return xstrndup(s, strcspn(s, ":"));
}

/* Fills err from an error answer (control plane or runtime). */
static void client_error_from_answer(struct client_response *r, long status,
                                     struct client_error *err)
{
	json_t *body = r->body.data ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
	const char *type = NULL, *message = NULL;

	if (json_is_object(body)) {
		type = json_string_value(json_object_get(body, "__type"));
		if (!type)
			type = json_string_value(json_object_get(body, "ErrorCode"));
		message = json_string_value(json_object_get(body, "message"));
		if (!message)
			message = json_string_value(json_object_get(body, "Message"));
	}
	char *code;
	if (r->error_type && *r->error_type)
		code = client_error_code(r->error_type);
	else if (type)
		code = client_error_code(type);
	else
		code = xasprintf("HTTP %ld", status);

	char *msg;
	if (message)
		msg = xstrdup(message);
	else if (r->body.len > 0 && !json_is_object(body))
		msg = xstrndup(r->body.data, r->body.len > 500 ? 500 : r->body.len);
	else
		msg = xasprintf("HTTP status %ld", status);
	/* An answer body may end in a newline; any other line end in it is
	 * shown escaped (client_error_print), not cut off. */
	for (size_t n = strlen(msg); n > 0 && strchr("\r\n", msg[n - 1]); n--)
		msg[n - 1] = '\0';

	client_error_set(err, CLIENT_ERROR_API, code, msg);
	err->http_status = status;
	json_decref(body);
}

/* Adds a header to a request's list. */
static void client_headers_add(struct client_headers *h, const char *name, const char *value)
{
	if (h->n == CLIENT_MAX_HEADERS)
		abort(); /* the requests below send a fixed few */
	h->names[h->n] = name;
	h->values[h->n++] = value;
}

/* What the daemon says when a request was not signed, with why. */
static void client_error_from_unsigned(const struct client *c, struct client_error *err)
{
	if (c->access_key_id || !err->code ||
	    strcmp(err->code, "MissingAuthenticationTokenException") != 0)
		return;
	char *m = xasprintf("%s (endpointctl found no AWS credentials: set AWS_ACCESS_KEY_ID and "
	                    "AWS_SECRET_ACCESS_KEY, or name a profile of ~/.aws/credentials with "
	                    "--profile)",
	                    err->message ? err->message : "");
	free(err->message);
	err->message = m;
}

/*
 * Sets up a request on c->curl: its URL (base + path), its headers (Host
 * first, h's, then the signature's when c has credentials, over the body
 * hashed once) as *ret_headers for the caller to free after the call.
 * -1 with err set when a header value could not be sent as it is or the
 * request could not be signed.
 */
static int client_prepare(struct client *c, const char *method, const char *path,
                          struct client_headers *h, const void *body, size_t len,
                          struct curl_slist **ret_headers, struct client_error *err)
{
	struct client_headers all = {.n = 0};
	char date[17], hash[65];
	_cleanup_free_ char *authorization = NULL;
	_cleanup_free_ char *full_path = xasprintf("%s%s", c->prefix, path);

	client_headers_add(&all, "Host", c->host);
	for (size_t i = 0; i < h->n; i++) {
		for (const char *v = h->values[i]; *v; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') || (unsigned char)*v >= 0x7f) {
				_cleanup_free_ char *shown = text_escape(h->values[i]);
				client_error_set(err, CLIENT_ERROR_TRANSPORT, NULL,
				                 xasprintf("the %s header cannot carry \"%s\": "
				                           "visible ASCII only",
				                           h->names[i], shown));
				return -1;
			}
		client_headers_add(&all, h->names[i], h->values[i]);
	}
	if (c->access_key_id) {
		auth_sha256_hex(body ? body : "", len, hash);
		const struct auth_request req = {
		    .method = method,
		    .raw_path = full_path,
		    .header_names = all.names,
		    .header_values = all.values,
		    .n_headers = all.n,
		    .body_sha256_hex = hash,
		};
		const struct auth_credentials creds = {
		    .access_key_id = c->access_key_id,
		    .secret_access_key = c->secret_access_key,
		    .session_token = c->session_token,
		};
		int r = auth_sign(&req, &creds, c->region, CLIENT_SIGNING_SERVICE, time(NULL), date,
		                  &authorization);
		if (r < 0) {
			client_error_set(err, CLIENT_ERROR_TRANSPORT, NULL,
			                 xasprintf("cannot sign the request to %s: %s", full_path,
			                           r == -E2BIG ? "it is too large to sign"
			                                       : "the key, region or a header "
			                                         "cannot be signed"));
			return -1;
		}
		client_headers_add(&all, "X-Amz-Date", date);
		if (c->session_token)
			client_headers_add(&all, "X-Amz-Security-Token", c->session_token);
		client_headers_add(&all, "Authorization", authorization);
	}
	struct curl_slist *list = NULL;
	for (size_t i = 0; i < all.n; i++) {
		_cleanup_free_ char *line = xasprintf("%s: %s", all.names[i], all.values[i]);
		list = curl_slist_append(list, line);
	}
	list = curl_slist_append(list, "Expect:");
	_cleanup_free_ char *url = xasprintf("%s%s", c->base, path);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	*ret_headers = list;
	return 0;
}

/* SageMaker.<op>. */
int client_call(struct client *c, const char *op, json_t *params, json_t **ret_body,
                struct client_error *err)
{
	struct client_response r = {.body = {.max = CLIENT_MAX_ANSWER}};
	struct curl_slist *headers = NULL;
	int res = -1;

	json_t *empty = params ? NULL : json_object();
	_cleanup_free_ char *body = json_dumps(params ? params : empty, JSON_COMPACT);
	json_decref(empty);
	_cleanup_free_ char *target = xasprintf("SageMaker.%s", op);
	struct client_headers h = {.n = 0};

	curl_easy_reset(c->curl);
	client_headers_add(&h, "Content-Type", "application/x-amz-json-1.1");
	client_headers_add(&h, "X-Amz-Target", target);
	if (client_prepare(c, "POST", "/", &h, body, strlen(body), &headers, err) < 0)
		goto out;
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	if (client_perform(c, headers, CLIENT_CALL_TIMEOUT_S, &r, err) < 0)
		goto out;

	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		client_error_from_answer(&r, status, err);
		client_error_from_unsigned(c, err);
		goto out;
	}
	json_error_t jerr;
	json_t *answer = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &jerr);
	if (!json_is_object(answer)) {
		json_decref(answer);
		client_error_set(err, CLIENT_ERROR_TRANSPORT, NULL,
		                 xasprintf("%s answered %s with something other than a JSON "
		                           "object: %s",
		                           c->url, op, jerr.text));
		goto out;
	}
	*ret_body = answer;
	res = 0;
out:
	curl_slist_free_all(headers);
	client_response_clear(&r);
	return res;
}

/* Frees what an invocation's answer said. */
void client_invoke_result_clear(struct client_invoke_result *r)
{
	free(r->invoked_variant);
	free(r->content_type);
	free(r->custom_attributes);
	*r = (struct client_invoke_result){0};
}

/* InvokeEndpoint. */
int client_invoke(struct client *c, const struct client_invoke *req,
                  struct client_invoke_result *ret, struct client_error *err)
{
	struct client_response r = {.body = {.max = CLIENT_MAX_ERROR_BODY}, .stream = req->out};
	struct client_headers h = {.n = 0};
	struct curl_slist *headers = NULL;
	int res = -1;

	curl_easy_reset(c->curl);
	char *escaped = curl_easy_escape(c->curl, req->endpoint, 0);
	_cleanup_free_ char *path = xasprintf("/endpoints/%s/invocations", escaped);
	curl_free(escaped);

	client_headers_add(&h, "Content-Type", req->content_type);
	if (req->accept)
		client_headers_add(&h, "Accept", req->accept);
	if (req->target_variant)
		client_headers_add(&h, "X-Amzn-SageMaker-Target-Variant", req->target_variant);
	if (req->custom_attributes)
		client_headers_add(&h, "X-Amzn-SageMaker-Custom-Attributes",
		                   req->custom_attributes);
	if (client_prepare(c, "POST", path, &h, req->body, req->len, &headers, err) < 0)
		goto out;
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
	if (client_perform(c, headers, CLIENT_INVOKE_TIMEOUT_S, &r, err) < 0)
		goto out;

	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		client_error_from_answer(&r, status, err);
		client_error_from_unsigned(c, err);
		goto out;
	}
	*ret = (struct client_invoke_result){
	    .invoked_variant = TAKE_PTR(r.invoked_variant),
	    .content_type = TAKE_PTR(r.content_type),
	    .custom_attributes = TAKE_PTR(r.custom_attributes),
	};
	res = 0;
out:
	curl_slist_free_all(headers);
	client_response_clear(&r);
	return res;
}

/* GET path. */
int client_get(struct client *c, const char *path, FILE *out, struct client_error *err)
{
	struct client_response r = {.body = {.max = CLIENT_MAX_ERROR_BODY}, .stream = out};
	struct client_headers h = {.n = 0};
	struct curl_slist *headers = NULL;
	int res = -1;

	curl_easy_reset(c->curl);
	if (client_prepare(c, "GET", path, &h, NULL, 0, &headers, err) < 0)
		goto out;
	if (client_perform(c, headers, CLIENT_CALL_TIMEOUT_S, &r, err) < 0)
		goto out;

	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		client_error_from_answer(&r, status, err);
		client_error_from_unsigned(c, err);
		goto out;
	}
	res = 0;
out:
	curl_slist_free_all(headers);
	client_response_clear(&r);
	return res;
}
