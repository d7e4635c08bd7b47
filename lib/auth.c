/*
 * Request signing: AWS Signature Version 4, checked as AWS checks it, and
 * each key's IAM-style policy.
 *
 * DESIGN
 *
 * A signed request carries its signature either in the Authorization header
 *
 *   AWS4-HMAC-SHA256 Credential=AKID/20261202/region/service/aws4_request,
 *       SignedHeaders=host;x-amz-date, Signature=<64 hex>
 *
 * or in the query (a presigned URL: X-Amz-Algorithm, X-Amz-Credential,
 * X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature).  Both
 * parse into struct sig; from there the check is one path:
 *
 *   1. the scope: terminator, date equal to the request's date, region and
 *      service ours;
 *   2. the key: known, else UnrecognizedClientException;
 *   3. the clock: X-Amz-Date within 15 minutes of now either way (AWS's
 *      rule), or for a presigned URL not yet past X-Amz-Date + X-Amz-Expires;
 *   4. the payload hash: x-amz-content-sha256 when sent (it must be the
 *      body's real hash: a signature over a hash the body does not have
 *      would sign nothing), else the body's hash;
 *   5. the canonical request as the client built it (method, the path with
 *      dot segments and empty segments removed and every byte that is not
 *      unreserved percent-encoded once more, the query decoded and encoded
 *      again and sorted, the signed headers in SignedHeaders' order with
 *      values trimmed, then SignedHeaders and the payload hash), the string
 *      to sign, the HMAC chain of the signing key, and a constant-time
 *      comparison with the signature sent.
 *
 * Everything a client controls is bounded before any work: the header
 * count, the Authorization value, the path and query, the number of query
 * parameters and SignedHeaders entries, and the canonical request itself.
 * A refusal allocates only its message.
 *
 * The signer (auth_sign(), what endpointctl signs with) builds its
 * canonical request with the same build_canonical() from the SignedHeaders
 * it chose, as botocore's SigV4Auth chooses them: every header sent, lower
 * case, sorted.  It refuses what it could not send as signed, and stays
 * within the verifier's bounds, so that whatever it signs verifies.
 */
#include "auth.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util.h"

#define AUTH_ALGORITHM "AWS4-HMAC-SHA256"
#define AUTH_TERMINATOR "aws4_request"
/* AWS's clock-skew window, either way. */
#define AUTH_SKEW_SECONDS (15 * 60)
/* A presigned URL lives at most a week. */
#define AUTH_MAX_EXPIRES 604800

/* Bounds on what a request can make the check read or build. */
#define AUTH_MAX_HEADERS 256
#define AUTH_MAX_AUTHORIZATION 4096
#define AUTH_MAX_PATH (8 * 1024)
#define AUTH_MAX_QUERY (8 * 1024)
#define AUTH_MAX_QUERY_PARAMS 128
#define AUTH_MAX_SIGNED_HEADERS 64
#define AUTH_MAX_CREDENTIAL 512
#define AUTH_MAX_CANONICAL (128 * 1024)
#define AUTH_MAX_SHOWN 512 /* of a client's string quoted in a message */

static const char msg_bad_signature[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

/* What either form of signature says, pointing into the request or into
 * the decoded query (owned by struct query). */
struct sig {
	bool presigned;
	const char *credential;
	size_t credential_len;
	const char *signed_headers;
	size_t signed_headers_len;
	const char *signature;
	size_t signature_len;
	const char *date; /* presigned: X-Amz-Date */
	const char *expires;
};

/* One query parameter, decoded (bytes; may hold NULs). */
struct query_param {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
};

struct query {
	struct query_param p[AUTH_MAX_QUERY_PARAMS];
	size_t n;
};

/* Refuses with a message; returns -EACCES for the caller to pass on. */
static int refuse(struct auth_verdict *ret, enum auth_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct auth_verdict *ret, enum auth_error e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(ret->message);
	ret->message = xvasprintf(fmt, ap);
	va_end(ap);
	ret->error = e;
	ret->key = NULL;
	return -EACCES;
}

/* A client's string, shortened for a message, with control bytes shown as '?'. */
static char *shown(const char *s, size_t len)
{
	size_t n = len > AUTH_MAX_SHOWN ? AUTH_MAX_SHOWN : len;
	char *r = xmalloc(n + 4);
	for (size_t i = 0; i < n; i++)
		r[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(r + n, n < len ? "..." : "");
	return r;
}

/* shown(s, len), made on first use and kept in *cache (the caller frees it):
 * the messages need it only when a request is refused. */
static const char *shown_once(char **cache, const char *s, size_t len)
{
	if (!*cache)
		*cache = shown(s, len);
	return *cache;
}

/* Keys */

/* A reference for each holder: a reload replaces the keys while requests
 * verified against the old ones are still answering. */
struct auth_keys *auth_keys_ref(struct auth_keys *k)
{
	if (k)
		k->refs++;
	return k;
}

/* Frees a rule's strings. */
static void auth_rule_clear(struct auth_rule *r)
{
	strv_free(r->actions, r->n_actions);
	strv_free(r->resources, r->n_resources);
}

/* The last reference frees every key, the secrets wiped first. */
struct auth_keys *auth_keys_unref(struct auth_keys *k)
{
	if (!k)
		return NULL;
	if (k->refs > 1) {
		k->refs--;
		return NULL;
	}
	for (size_t i = 0; i < k->n_keys; i++) {
		struct auth_key *key = &k->keys[i];
		if (key->secret_access_key) {
			OPENSSL_cleanse(key->secret_access_key, strlen(key->secret_access_key));
			free(key->secret_access_key);
		}
		free(key->name);
		free(key->access_key_id);
		for (size_t j = 0; j < key->n_rules; j++)
			auth_rule_clear(&key->rules[j]);
		free(key->rules);
	}
	free(k->keys);
	free(k);
	return NULL;
}

/* Access key ids are matched exactly, as AWS does. */
const struct auth_key *auth_keys_find(const struct auth_keys *k, const char *access_key_id)
{
	if (!k || !access_key_id)
		return NULL;
	for (size_t i = 0; i < k->n_keys; i++)
		if (k->keys[i].access_key_id &&
		    strcmp(k->keys[i].access_key_id, access_key_id) == 0)
			return &k->keys[i];
	return NULL;
}

/* Errors */

/* The message is the verdict's own; the key is borrowed. */
void auth_verdict_clear(struct auth_verdict *v)
{
	if (!v)
		return;
	free(v->message);
	v->message = NULL;
	v->key = NULL;
}

/* AWS's code for each refusal. */
const char *auth_error_code(enum auth_error e)
{
	switch (e) {
	case AUTH_OK:
		return "";
	case AUTH_MISSING:
		return "MissingAuthenticationTokenException";
	case AUTH_INCOMPLETE:
		return "IncompleteSignatureException";
	case AUTH_UNKNOWN_KEY:
		return "UnrecognizedClientException";
	case AUTH_BAD_SIGNATURE:
	case AUTH_EXPIRED:
		return "InvalidSignatureException";
	}
	return "InvalidSignatureException";
}

/* A malformed signature is the client's bad request; every other refusal is 403. */
int auth_error_status(enum auth_error e)
{
	switch (e) {
	case AUTH_OK:
		return 200;
	case AUTH_INCOMPLETE:
		return 400;
	default:
		return 403;
	}
}

/* Policies */

/* ASCII lower case, whatever the locale. */
static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* IAM's glob: '*' any run, '?' one character; linear backtracking on the
 * last '*' only, so no pattern takes more than len(p) * len(s) steps. */
static bool glob_match(const char *p, const char *s, bool fold)
{
	const char *star = NULL, *resume = NULL;
	while (*s) {
		char pc = fold ? ascii_lower(*p) : *p;
		char sc = fold ? ascii_lower(*s) : *s;
		if (*p == '*') {
			star = ++p;
			resume = s;
		} else if (*p && (*p == '?' || pc == sc)) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* Allowed when one rule matches both: actions case-insensitively (IAM
 * treats action names so), resources case-sensitively (ARNs are). */
bool auth_allowed(const struct auth_key *key, const char *action, const char *resource)
{
	if (!key || !action || !resource)
		return false;
	for (size_t i = 0; i < key->n_rules; i++) {
		const struct auth_rule *r = &key->rules[i];
		bool act = false, res = false;
		for (size_t j = 0; j < r->n_actions && !act; j++)
			act = r->actions[j] && glob_match(r->actions[j], action, true);
		for (size_t j = 0; j < r->n_resources && act && !res; j++)
			res = r->resources[j] && glob_match(r->resources[j], resource, false);
		if (act && res)
			return true;
	}
	return false;
}

/* Hashing */

/* Lower-case hex of n bytes; out holds 2n + 1. */
static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * SHA-256, fetched once, and one digest context used again and again: an
 * EVP_sha256() one-shot (and HMAC()) looks the algorithm up, under a lock,
 * on every call, which was a sixth of a verification.  The daemon verifies
 * on its one loop thread; neither is shared with another thread.
 */
static EVP_MD_CTX *auth_digest(void)
{
	static EVP_MD *md;
	static EVP_MD_CTX *ctx;
	if (!md && !(md = EVP_MD_fetch(NULL, "SHA256", NULL)))
		abort(); /* no SHA-256 in libcrypto: broken install */
	if (!ctx && !(ctx = EVP_MD_CTX_new()))
		abort(); /* out of memory in libcrypto */
	if (!EVP_DigestInit_ex(ctx, md, NULL))
		abort();
	return ctx;
}

/* A 6 MiB body is hashed where it lies, chunk by chunk: no pullup, no copy. */
void auth_sha256_evbuffer(struct evbuffer *body, char out[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = auth_digest();
	struct evbuffer_iovec small[16];
	int n = body ? evbuffer_peek(body, -1, NULL, NULL, 0) : 0;
	if (n > 0) {
		struct evbuffer_iovec *v = n <= 16 ? small : xcalloc((size_t)n, sizeof(*v));
		n = evbuffer_peek(body, -1, NULL, v, n);
		for (int i = 0; i < n; i++)
			EVP_DigestUpdate(ctx, v[i].iov_base, v[i].iov_len);
		if (v != small)
			free(v);
	}
	EVP_DigestFinal_ex(ctx, md, &md_len);
	hex_encode(md, sizeof(md), out);
}

/* SHA-256 of bytes, in hex: the signer hashes a body with it once. */
void auth_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = auth_digest();
	EVP_DigestUpdate(ctx, p, n);
	EVP_DigestFinal_ex(ctx, md, &md_len);
	hex_encode(md, sizeof(md), out);
}

/* HMAC-SHA256 of msg under key into out (32 bytes), RFC 2104 over the
 * digest above. */
static void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	unsigned int len = 0;
	EVP_MD_CTX *ctx;
	if (key_len > sizeof(k)) {
		ctx = auth_digest();
		EVP_DigestUpdate(ctx, key, key_len);
		EVP_DigestFinal_ex(ctx, k, &len);
	} else {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x36;
	ctx = auth_digest();
	EVP_DigestUpdate(ctx, pad, sizeof(pad));
	EVP_DigestUpdate(ctx, msg, msg_len);
	EVP_DigestFinal_ex(ctx, inner, &len);
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x5c;
	ctx = auth_digest();
	EVP_DigestUpdate(ctx, pad, sizeof(pad));
	EVP_DigestUpdate(ctx, inner, sizeof(inner));
	EVP_DigestFinal_ex(ctx, out, &len);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
}

/* Dates */

/* The number n decimal digits spell. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* ISO 8601 basic, exactly "YYYYMMDDTHHMMSSZ"; -EINVAL otherwise. */
static int parse_amz_date(const char *s, size_t len, time_t *ret)
{
	if (len != 16 || s[8] != 'T' || s[15] != 'Z')
		return -EINVAL;
	for (size_t i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return -EINVAL;
	struct tm tm = {.tm_year = digits(s, 4) - 1900,
	                .tm_mon = digits(s + 4, 2) - 1,
	                .tm_mday = digits(s + 6, 2),
	                .tm_hour = digits(s + 9, 2),
	                .tm_min = digits(s + 11, 2),
	                .tm_sec = digits(s + 13, 2)};
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	int mday = tm.tm_mday;
	*ret = timegm(&tm);
	if (tm.tm_mday != mday) /* 20260231 */
		return -EINVAL;
	return 0;
}

/* An HTTP date, "Wed, 02 Dec 2026 14:30:00 GMT" (RFC 7231's IMF-fixdate). */
static int parse_http_date(const char *s, size_t len, time_t *ret)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4] = {0};
	int day, year, h, m, sec, used = 0;
	if (len < 29 || len > 64)
		return -EINVAL;
	char buf[65];
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (sscanf(buf, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &h,
	           &m, &sec, &used) != 6 ||
	    (size_t)used != len)
		return -EINVAL;
	const char *at = strstr(months, mon);
	if (!at || (at - months) % 3 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60 ||
	    year < 1970)
		return -EINVAL;
	struct tm tm = {.tm_year = year - 1900,
	                .tm_mon = (int)((at - months) / 3),
	                .tm_mday = day,
	                .tm_hour = h,
	                .tm_min = m,
	                .tm_sec = sec};
	*ret = timegm(&tm);
	return tm.tm_mday == day ? 0 : -EINVAL;
}

/* t as ISO 8601 basic. */
static void format_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		strcpy(out, "00000000T000000Z");
}

/* The request */

/* The value of the first header called name (any case) without the white
 * space around it, *ret_len its length; NULL when none.  *ret_count says
 * how many there are. */
static const char *header_get(const struct auth_request *req, const char *name, size_t *ret_count,
                              size_t *ret_len)
{
	const char *v = NULL;
	size_t count = 0;
	for (size_t i = 0; i < req->n_headers; i++)
		if (req->header_names[i] && strcasecmp(req->header_names[i], name) == 0) {
			if (!v)
				v = req->header_values[i] ? req->header_values[i] : "";
			count++;
		}
	*ret_count = count;
	if (!v)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t len = strlen(v);
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	*ret_len = len;
	return v;
}

/* RFC 3986's unreserved characters, in ASCII whatever the locale. */
static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}


/* Appends p percent-encoded as SigV4 encodes: unreserved bytes (and '/'
 * when keep_slash) as they are, every other byte %XY. */
static int uri_encode(struct buf *b, const char *p, size_t n, bool keep_slash)
{
	static const char hex_upper[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n;) {
		/* A run that stays as it is goes in at once. */
		size_t run = 0;
		while (i + run < n && (is_unreserved((unsigned char)p[i + run]) ||
		                       (keep_slash && p[i + run] == '/')))
			run++;
		if (run > 0 && buf_append(b, p + i, run) < 0)
			return -E2BIG;
		i += run;
		if (i == n)
			break;
		unsigned char c = (unsigned char)p[i++];
		if (buf_append(b, (char[]){'%', hex_upper[c >> 4], hex_upper[c & 15]}, 3) < 0)
			return -E2BIG;
	}
	return 0;
}

/* Percent-decodes n bytes of p into out; a '%' not followed
 * by two hex digits stays as it is. */
static size_t uri_decode(const char *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (p[i] == '%' && i + 2 < n && (hi = hex_digit_value((unsigned char)p[i + 1])) >= 0 &&
		    (lo = hex_digit_value((unsigned char)p[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = p[i];
		}
	}
	return o;
}

/* The canonical URI: the path as sent, dot segments resolved and empty
 * segments dropped (RFC 3986 5.2.4 and AWS's rule for "//"), then each byte
 * not unreserved encoded once more, so "%2F" signs as "%252F". */
static int canonical_uri(struct buf *b, const char *path)
{
	if (!path || !*path)
		return buf_append(b, "/", 1);
	size_t len = strlen(path);
	/* Nothing to normalise (no empty, "." or ".." segment), as in nearly
	 * every request: the path is its own canonical form, encoded. */
	if (path[0] == '/' && !strstr(path, "//") && !strstr(path, "/."))
		return uri_encode(b, path, len, true);
	/* Segment starts and lengths: at most one per two bytes, plus one. */
	size_t max = len / 2 + 1, n = 0;
	_cleanup_free_ const char **seg = xcalloc(max, sizeof(*seg));
	_cleanup_free_ size_t *seg_len = xcalloc(max, sizeof(*seg_len));
	for (const char *p = path; p < path + len;) {
		const char *e = memchr(p, '/', (size_t)(path + len - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(path + len - p);
		if (l == 0 || (l == 1 && p[0] == '.')) {
			/* dropped */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (n)
				n--;
		} else if (n < max) {
			seg[n] = p;
			seg_len[n++] = l;
		}
		p += l + 1;
	}
	int r = path[0] == '/' ? buf_append(b, "/", 1) : 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i)
			r = buf_append(b, "/", 1);
		if (r == 0)
			r = uri_encode(b, seg[i], seg_len[i], false);
	}
	if (r == 0 && n && path[len - 1] == '/')
		r = buf_append(b, "/", 1);
	return r;
}

/* Frees the decoded parameters. */
static void query_clear(struct query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->p[i].key);
		free(q->p[i].value);
	}
	q->n = 0;
}

/* Splits and decodes the query; -E2BIG over the bounds. */
static int query_parse(const char *raw, struct query *q)
{
	q->n = 0;
	if (!raw || !*raw)
		return 0;
	size_t len = strlen(raw);
	if (len > AUTH_MAX_QUERY)
		return -E2BIG;
	for (const char *p = raw; p <= raw + len;) {
		const char *e = memchr(p, '&', (size_t)(raw + len - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(raw + len - p);
		if (l > 0) {
			if (q->n == AUTH_MAX_QUERY_PARAMS)
				return -E2BIG;
			const char *eq = memchr(p, '=', l);
			size_t kl = eq ? (size_t)(eq - p) : l;
			struct query_param *qp = &q->p[q->n++];
			qp->key = xmalloc(kl + 1);
			qp->key_len = uri_decode(p, kl, qp->key);
			qp->key[qp->key_len] = '\0';
			size_t vl = eq ? l - kl - 1 : 0;
			qp->value = xmalloc(vl + 1);
			qp->value_len = uri_decode(eq ? eq + 1 : "", vl, qp->value);
			qp->value[qp->value_len] = '\0';
		}
		p += l + 1;
	}
	return 0;
}

/* The one parameter called key (exact, as AWS matches them); NULL when
 * none; *ret_count how many. */
static const struct query_param *query_get(const struct query *q, const char *key,
                                           size_t *ret_count)
{
	const struct query_param *found = NULL;
	size_t count = 0, kl = strlen(key);
	for (size_t i = 0; i < q->n; i++)
		if (q->p[i].key_len == kl && memcmp(q->p[i].key, key, kl) == 0) {
			found = found ? found : &q->p[i];
			count++;
		}
	if (ret_count)
		*ret_count = count;
	return found;
}

/* Byte order of (encoded key, encoded value), as every signer sorts. */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

struct encoded_param {
	char *kv; /* "key=value", encoded */
	size_t key_len;
	size_t len;
};

/* qsort's order of encoded parameters: by key, then by value. */
static int encoded_param_cmp(const void *a, const void *b)
{
	const struct encoded_param *x = a, *y = b;
	int c = bytes_cmp(x->kv, x->key_len, y->kv, y->key_len);
	if (c)
		return c;
	return bytes_cmp(x->kv + x->key_len + 1, x->len - x->key_len - 1, y->kv + y->key_len + 1,
	                 y->len - y->key_len - 1);
}

/* The canonical query: each parameter encoded again, sorted by key then
 * value, "key=value" joined by '&'; the presigned form leaves
 * X-Amz-Signature out. */
static int canonical_query(struct buf *b, const struct query *q, bool presigned)
{
	struct encoded_param e[AUTH_MAX_QUERY_PARAMS];
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < q->n && r == 0; i++) {
		const struct query_param *p = &q->p[i];
		if (presigned && p->key_len == 15 && memcmp(p->key, "X-Amz-Signature", 15) == 0)
			continue;
		struct buf one = {.max = AUTH_MAX_CANONICAL};
		r = uri_encode(&one, p->key, p->key_len, false);
		size_t kl = one.len;
		if (r == 0)
			r = buf_append(&one, "=", 1);
		if (r == 0)
			r = uri_encode(&one, p->value, p->value_len, false);
		e[n].key_len = kl;
		e[n].len = one.len;
		e[n++].kv = buf_steal(&one);
	}
	if (r == 0)
		qsort(e, n, sizeof(e[0]), encoded_param_cmp);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && i)
			r = buf_append(b, "&", 1);
		if (r == 0)
			r = buf_append(b, e[i].kv, e[i].len);
		free(e[i].kv);
	}
	return r;
}

/* The white space a header value's trimming removes. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Appends a header value trimmed, inner runs of white space as one space. */
static int append_trimmed(struct buf *b, const char *v)
{
	bool pending = false, any = false;
	while (*v) {
		if (is_space(*v)) {
			pending = any;
			v++;
			continue;
		}
		if (pending && buf_append(b, " ", 1) < 0)
			return -E2BIG;
		pending = false;
		any = true;
		size_t run = 0;
		while (v[run] && !is_space(v[run]))
			run++;
		if (buf_append(b, v, run) < 0)
			return -E2BIG;
		v += run;
	}
	return 0;
}

/* Parsing the signature */

/* Whether s (len) is exactly word. */
static bool token_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* Parses the Authorization header into sig; refuses as AWS words it. */
static int parse_authorization(const char *value, size_t vlen, struct sig *sig,
                               struct auth_verdict *ret)
{
	_cleanup_free_ char *show = NULL;
	if (vlen > AUTH_MAX_AUTHORIZATION)
		return refuse(ret, AUTH_INCOMPLETE,
		              "Authorization header is too long (over %d bytes).",
		              AUTH_MAX_AUTHORIZATION);
	const char *p = value;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t alen = strcspn(p, " \t");
	if (!token_is(p, alen, AUTH_ALGORITHM)) {
		if (alen >= 4 && memcmp(p, "AWS4", 4) == 0) {
			_cleanup_free_ char *alg = shown(p, alen);
			return refuse(ret, AUTH_INCOMPLETE, "Unsupported AWS 'algorithm': '%s'.",
			              alg);
		}
		return refuse(
		    ret, AUTH_INCOMPLETE,
		    "Authorization header requires 'Credential' parameter. Authorization header "
		    "requires 'Signature' parameter. Authorization header requires "
		    "'SignedHeaders' parameter. Authorization=%s",
		    shown_once(&show, value, vlen));
	}
	p += alen;
	const char *end = value + vlen;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		const char *e = memchr(p, ',', (size_t)(end - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
		while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		const char *eq = memchr(p, '=', l);
		if (!eq) {
			_cleanup_free_ char *part = shown(p, l);
			return refuse(
			    ret, AUTH_INCOMPLETE,
			    "'%s' not a valid key=value pair (missing equal-sign) in Authorization "
			    "header: '%s'.",
			    part, shown_once(&show, value, vlen));
		}
		size_t kl = (size_t)(eq - p);
		const char **slot;
		size_t *slot_len;
		if (token_is(p, kl, "Credential")) {
			slot = &sig->credential;
			slot_len = &sig->credential_len;
		} else if (token_is(p, kl, "SignedHeaders")) {
			slot = &sig->signed_headers;
			slot_len = &sig->signed_headers_len;
		} else if (token_is(p, kl, "Signature")) {
			slot = &sig->signature;
			slot_len = &sig->signature_len;
		} else {
			_cleanup_free_ char *key = shown(p, kl);
			return refuse(
			    ret, AUTH_INCOMPLETE,
			    "Authorization header has an unknown parameter '%s'. Authorization=%s",
			    key, shown_once(&show, value, vlen));
		}
		if (*slot) {
			_cleanup_free_ char *key = shown(p, kl);
			return refuse(ret, AUTH_INCOMPLETE,
			              "Authorization header has the '%s' parameter more than once. "
			              "Authorization=%s",
			              key, shown_once(&show, value, vlen));
		}
		*slot = eq + 1;
		*slot_len = l - kl - 1;
		p += l;
	}
	if (!sig->credential || !sig->signed_headers || !sig->signature)
		return refuse(
		    ret, AUTH_INCOMPLETE, "%s%s%sAuthorization=%s",
		    sig->credential ? "" : "Authorization header requires 'Credential' parameter. ",
		    sig->signature ? "" : "Authorization header requires 'Signature' parameter. ",
		    sig->signed_headers
		        ? ""
		        : "Authorization header requires 'SignedHeaders' parameter. ",
		    shown_once(&show, value, vlen));
	return 0;
}

/* Parses the presigned query parameters into sig. */
static int parse_presigned(const struct query *q, struct sig *sig, struct auth_verdict *ret)
{
	static const char *const names[] = {"X-Amz-Algorithm",     "X-Amz-Credential",
	                                    "X-Amz-Signature",     "X-Amz-Date",
	                                    "X-Amz-SignedHeaders", "X-Amz-Expires"};
	const struct query_param *v[ELEMENTSOF(names)];
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		size_t count;
		v[i] = query_get(q, names[i], &count);
		if (count > 1)
			return refuse(ret, AUTH_INCOMPLETE,
			              "AWS query-string parameter '%s' appears more than once. "
			              "Re-examine the "
			              "query-string parameters.",
			              names[i]);
		if (!v[i])
			return refuse(ret, AUTH_INCOMPLETE,
			              "AWS query-string parameters must include 'X-Amz-Algorithm', "
			              "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', "
			              "'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the "
			              "query-string "
			              "parameters.");
		if (strlen(v[i]->value) != v[i]->value_len)
			return refuse(ret, AUTH_INCOMPLETE,
			              "AWS query-string parameter '%s' holds a NUL byte.",
			              names[i]);
	}
	if (strcmp(v[0]->value, AUTH_ALGORITHM) != 0) {
		_cleanup_free_ char *alg = shown(v[0]->value, v[0]->value_len);
		return refuse(ret, AUTH_INCOMPLETE,
		              "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\", not '%s'.", alg);
	}
	sig->presigned = true;
	sig->credential = v[1]->value;
	sig->credential_len = v[1]->value_len;
	sig->signature = v[2]->value;
	sig->signature_len = v[2]->value_len;
	sig->date = v[3]->value;
	sig->signed_headers = v[4]->value;
	sig->signed_headers_len = v[4]->value_len;
	sig->expires = v[5]->value;
	return 0;
}

/* A signed header name as SigV4 spells it: lower-case, an HTTP token. */
static bool signed_header_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || c <= 0x20 || c >= 0x7f ||
		    strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

/* The credential's five parts. */
struct scope {
	char akid[AUTH_MAX_CREDENTIAL + 1];
	const char *date, *region, *service, *terminator;
	size_t date_len, region_len, service_len, terminator_len;
};

/* Splits AKID/date/region/service/terminator. */
static int parse_credential(const struct sig *sig, struct scope *s, struct auth_verdict *ret)
{
	_cleanup_free_ char *show = NULL;
	const char *parts[5];
	size_t lens[5], n = 0;
	const char *p = sig->credential, *end = p + sig->credential_len;
	if (sig->credential_len > AUTH_MAX_CREDENTIAL)
		return refuse(ret, AUTH_INCOMPLETE, "Credential is too long: '%s'.", shown_once(&show, sig->credential, sig->credential_len));
	while (n < 5) {
		const char *e = memchr(p, '/', (size_t)(end - p));
		parts[n] = p;
		lens[n++] = e ? (size_t)(e - p) : (size_t)(end - p);
		if (!e)
			break;
		p = e + 1;
	}
	if (n != 5 || parts[4] + lens[4] != end || lens[0] == 0)
		return refuse(
		    ret, AUTH_INCOMPLETE,
		    "Credential should be 'AccessKeyId/YYYYMMDD/region/service/aws4_request', not "
		    "'%s'.",
		    shown_once(&show, sig->credential, sig->credential_len));
	if (!token_is(parts[4], lens[4], AUTH_TERMINATOR)) {
		_cleanup_free_ char *t = shown(parts[4], lens[4]);
		return refuse(ret, AUTH_INCOMPLETE,
		              "Credential should be scoped with a valid terminator: "
		              "'aws4_request', not '%s'.",
		              t);
	}
	memcpy(s->akid, parts[0], lens[0]);
	s->akid[lens[0]] = '\0';
	if (strlen(s->akid) != lens[0])
		return refuse(ret, AUTH_INCOMPLETE, "Credential holds a NUL byte.");
	s->date = parts[1];
	s->date_len = lens[1];
	s->region = parts[2];
	s->region_len = lens[2];
	s->service = parts[3];
	s->service_len = lens[3];
	return 0;
}

/* Checks the signature's shape: 64 hex digits. */
static bool signature_ok(const struct sig *sig)
{
	if (sig->signature_len != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (hex_digit_value((unsigned char)sig->signature[i]) < 0)
			return false;
	return true;
}

/* Builds the canonical request into b; -E2BIG past the bound, -ENOENT
 * with *ret_missing (index into SignedHeaders) when a signed header is not
 * in the request. */
static int build_canonical(struct buf *b, const struct auth_request *req, const struct query *q,
                           const struct sig *sig, const char *payload_hash,
                           const char **ret_missing, size_t *ret_missing_len)
{
	int r = buf_append(b, req->method, strlen(req->method));
	if (r == 0)
		r = buf_append(b, "\n", 1);
	if (r == 0)
		r = canonical_uri(b, req->raw_path);
	if (r == 0)
		r = buf_append(b, "\n", 1);
	if (r == 0)
		r = canonical_query(b, q, sig->presigned);
	if (r == 0)
		r = buf_append(b, "\n", 1);
	const char *sh = sig->signed_headers, *end = sh + sig->signed_headers_len;
	for (const char *p = sh; r == 0 && p < end;) {
		const char *e = memchr(p, ';', (size_t)(end - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
		bool found = false;
		r = buf_append(b, p, l);
		if (r == 0)
			r = buf_append(b, ":", 1);
		for (size_t i = 0; r == 0 && i < req->n_headers; i++) {
			const char *name = req->header_names[i];
			if (!name || strlen(name) != l || strncasecmp(name, p, l) != 0)
				continue;
			if (found)
				r = buf_append(b, ",", 1);
			if (r == 0)
				r = append_trimmed(b, req->header_values[i] ? req->header_values[i]
				                                            : "");
			found = true;
		}
		if (r == 0 && !found) {
			*ret_missing = p;
			*ret_missing_len = l;
			return -ENOENT;
		}
		if (r == 0)
			r = buf_append(b, "\n", 1);
		p += l + 1;
	}
	if (r == 0)
		r = buf_append(b, "\n", 1);
	if (r == 0)
		r = buf_append(b, sh, sig->signed_headers_len);
	if (r == 0)
		r = buf_append(b, "\n", 1);
	if (r == 0)
		r = buf_append(b, payload_hash, strlen(payload_hash));
	return r;
}

/* Checks SignedHeaders: bounded, well-formed, no duplicates, host among them. */
static int check_signed_headers(const struct sig *sig, struct auth_verdict *ret)
{
	const char *names[AUTH_MAX_SIGNED_HEADERS];
	size_t lens[AUTH_MAX_SIGNED_HEADERS], n = 0;
	bool host = false;
	const char *p = sig->signed_headers, *end = p + sig->signed_headers_len;
	_cleanup_free_ char *show = NULL;
	if (p == end)
		return refuse(ret, AUTH_INCOMPLETE, "SignedHeaders is empty.");
	for (; p <= end;) {
		const char *e = memchr(p, ';', (size_t)(end - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
		if (!signed_header_name_ok(p, l))
			return refuse(
			    ret, AUTH_INCOMPLETE,
			    "SignedHeaders must be lower-case header names separated by ';', not "
			    "'%s'.",
			    shown_once(&show, sig->signed_headers, sig->signed_headers_len));
		if (n == AUTH_MAX_SIGNED_HEADERS)
			return refuse(ret, AUTH_INCOMPLETE,
			              "SignedHeaders names more than %d headers.",
			              AUTH_MAX_SIGNED_HEADERS);
		for (size_t i = 0; i < n; i++)
			if (lens[i] == l && memcmp(names[i], p, l) == 0)
				return refuse(ret, AUTH_INCOMPLETE,
				              "SignedHeaders names a header more than once: '%s'.",
				              shown_once(&show, sig->signed_headers, sig->signed_headers_len));
		names[n] = p;
		lens[n++] = l;
		host |= token_is(p, l, "host");
		p += l + 1;
	}
	if (!host)
		return refuse(
		    ret, AUTH_INCOMPLETE,
		    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
	return 0;
}

/* Checks the clock: AWS's 15 minutes either way, and a presigned URL's expiry. */
static int check_clock(time_t date, const struct sig *sig, double now, struct auth_verdict *ret)
{
	time_t t = (time_t)now;
	char d[17], lo[17], hi[17], n[17];
	/* The dates are formatted only for a refusal's words. */
	if ((double)date > now + AUTH_SKEW_SECONDS) {
		format_amz_date(date, d);
		format_amz_date(t, n);
		format_amz_date(t + AUTH_SKEW_SECONDS, hi);
		return refuse(ret, AUTH_EXPIRED,
		              "Signature not yet current: %s is still later than %s (%s + 15 min.)",
		              d, hi, n);
	}
	if (sig->presigned) {
		char *end;
		errno = 0;
		long expires = strtol(sig->expires, &end, 10);
		if (!*sig->expires || *end || errno || sig->expires[0] < '0' ||
		    sig->expires[0] > '9' || expires < 1)
			return refuse(ret, AUTH_INCOMPLETE,
			              "X-Amz-Expires must be a positive number of "
			              "seconds.");
		if (expires > AUTH_MAX_EXPIRES)
			return refuse(
			    ret, AUTH_INCOMPLETE,
			    "X-Amz-Expires must be less than a week (in seconds) that is 604800.");
		if ((double)(date + expires) < now) {
			format_amz_date(date + expires, lo);
			format_amz_date(t, n);
			return refuse(ret, AUTH_EXPIRED,
			              "Request has expired: %s is earlier than %s.", lo, n);
		}
		return 0;
	}
	if ((double)date < now - AUTH_SKEW_SECONDS) {
		format_amz_date(date, d);
		format_amz_date(t, n);
		format_amz_date(t - AUTH_SKEW_SECONDS, lo);
		return refuse(ret, AUTH_EXPIRED,
		              "Signature expired: %s is now earlier than %s (%s - 15 min.)", d, lo,
		              n);
	}
	return 0;
}

/* The date the request was signed at: X-Amz-Date (header, or the
 * presigned query's), else Date. */
static int request_date(const struct auth_request *req, const struct sig *sig,
                        const char *auth_value, time_t *ret_date, char ret_iso[17],
                        struct auth_verdict *ret)
{
	size_t count = 0, len = 0;
	const char *v = sig->presigned ? sig->date : header_get(req, "x-amz-date", &count, &len);
	if (count > 1)
		return refuse(ret, AUTH_INCOMPLETE, "X-Amz-Date is sent more than once.");
	if (v) {
		if (sig->presigned)
			len = strlen(v);
		if (parse_amz_date(v, len, ret_date) < 0) {
			_cleanup_free_ char *show = shown(v, len);
			return refuse(ret, AUTH_INCOMPLETE,
			              "Date must be in ISO-8601 'basic format'. Got '%s'. See "
			              "http://en.wikipedia.org/wiki/ISO_8601",
			              show);
		}
		memcpy(ret_iso, v, 16);
		ret_iso[16] = '\0';
		return 0;
	}
	v = header_get(req, "date", &count, &len);
	if (!v || count > 1) {
		_cleanup_free_ char *show = shown(auth_value, strlen(auth_value));
		return refuse(
		    ret, AUTH_INCOMPLETE,
		    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
		    "header. Authorization=%s",
		    show);
	}
	if (parse_http_date(v, len, ret_date) < 0) {
		_cleanup_free_ char *show = shown(v, len);
		return refuse(ret, AUTH_INCOMPLETE, "Date header is not an HTTP date: '%s'.", show);
	}
	format_amz_date(*ret_date, ret_iso);
	return 0;
}

/* The payload hash to sign with: x-amz-content-sha256 when sent, which must
 * then be the body's own. */
static int payload_hash(const struct auth_request *req, const char **ret_hash,
                        struct auth_verdict *ret)
{
	size_t count, len = 0;
	const char *v = header_get(req, "x-amz-content-sha256", &count, &len);
	const char *body = req->body_sha256_hex ? req->body_sha256_hex : "";
	if (strlen(body) != 64)
		return refuse(ret, AUTH_BAD_SIGNATURE, "%s", msg_bad_signature);
	*ret_hash = body;
	if (!v)
		return 0;
	if (count > 1)
		return refuse(ret, AUTH_INCOMPLETE, "x-amz-content-sha256 is sent more than once.");
	if (token_is(v, len, "UNSIGNED-PAYLOAD") || str_has_prefix(v, "STREAMING-"))
		return refuse(
		    ret, AUTH_BAD_SIGNATURE,
		    "x-amz-content-sha256 must be the body's SHA-256: unsigned and streaming "
		    "payloads are not accepted.");
	if (!token_is(v, len, body))
		return refuse(ret, AUTH_BAD_SIGNATURE,
		              "The provided 'x-amz-content-sha256' header does not match what was "
		              "computed.");
	return 0;
}

/*
 * Signing keys derived lately: the key of (secret, date, region, service)
 * is the same for a whole UTC day, and deriving it is four of the five
 * HMACs of a verification.  Found by the secret itself, not by which key
 * struct holds it, so a reload that changes a secret can never reuse the
 * old one's key.  A handful of entries: a daemon sees few keys at once.
 */
#define AUTH_KEY_CACHE 8
#define AUTH_KEY_CACHE_SECRET 128
struct auth_derived {
	bool used;
	char secret[AUTH_KEY_CACHE_SECRET + 1];
	char scope[96]; /* "YYYYMMDD/region/service" */
	unsigned char key[32];
};
static struct auth_derived auth_derived[AUTH_KEY_CACHE];
static unsigned auth_derived_next;

/* The signing key HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
 * service), "aws4_request") into key. */
static void derive(const char *secret, const char iso[17], const char *region,
                   const char *service, unsigned char key[32])
{
	char scope[96];
	int n = snprintf(scope, sizeof(scope), "%.8s/%s/%s", iso, region, service);
	size_t slen = strlen(secret);
	bool cacheable = n > 0 && (size_t)n < sizeof(scope) && slen <= AUTH_KEY_CACHE_SECRET;
	for (unsigned i = 0; cacheable && i < AUTH_KEY_CACHE; i++) {
		struct auth_derived *d = &auth_derived[i];
		if (d->used && strcmp(d->scope, scope) == 0 && strcmp(d->secret, secret) == 0) {
			memcpy(key, d->key, 32);
			return;
		}
	}
	_cleanup_free_ char *k_secret = xmalloc(slen + 5);
	memcpy(k_secret, "AWS4", 4);
	memcpy(k_secret + 4, secret, slen + 1);
	unsigned char a[32], b[32];
	hmac_sha256(k_secret, slen + 4, iso, 8, a);
	OPENSSL_cleanse(k_secret, slen + 4);
	hmac_sha256(a, 32, region, strlen(region), b);
	hmac_sha256(b, 32, service, strlen(service), a);
	hmac_sha256(a, 32, AUTH_TERMINATOR, strlen(AUTH_TERMINATOR), key);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	if (!cacheable)
		return;
	struct auth_derived *d = &auth_derived[auth_derived_next++ % AUTH_KEY_CACHE];
	OPENSSL_cleanse(d, sizeof(*d));
	d->used = true;
	memcpy(d->secret, secret, slen + 1);
	memcpy(d->scope, scope, (size_t)n + 1);
	memcpy(d->key, key, 32);
}

/* The signature of a canonical request: the string to sign under the
 * signing key of its scope. */
static void sign(const char *secret, const char iso[17], const char *region, const char *service,
                 const char *canon, size_t canon_len, unsigned char mac[32])
{
	char canon_hash[65];
	auth_sha256_hex(canon, canon_len, canon_hash);
	/* Pieces appended, not printed: this runs on every call. */
	struct buf sts = {0};
	char date[10] = {0};
	memcpy(date, iso, 8); /* the scope's date, then its "/" */
	date[8] = '/';
	const char *const pieces[] = {AUTH_ALGORITHM "\n", iso, "\n", date, region, "/", service,
	                              "/" AUTH_TERMINATOR "\n", canon_hash};
	for (size_t i = 0; i < ELEMENTSOF(pieces); i++)
		buf_append(&sts, pieces[i], strlen(pieces[i]));
	unsigned char key[32];
	derive(secret, iso, region, service, key);
	hmac_sha256(key, 32, sts.data, sts.len, mac);
	free(sts.data);
	OPENSSL_cleanse(key, sizeof(key));
}

/* Every check of the header's comment, in AWS's order: shape, scope, key,
 * clock, payload, signature. */
int auth_verify(const struct auth_keys *keys, const struct auth_request *req, const char *region,
                const char *service, double now, struct auth_verdict *ret)
{
	*ret = (struct auth_verdict){.error = AUTH_OK};
	struct query q = {.n = 0};
	struct sig sig = {.presigned = false};
	struct buf canon = {.max = AUTH_MAX_CANONICAL};
	int r;

	if (!isfinite(now)) {
		/* The clock rule cannot hold against no time at all. */
		r = refuse(ret, AUTH_EXPIRED, "Signature expired: the server's clock gives no time.");
		goto out;
	}
	if (!req || !req->method || !*req->method) {
		r = refuse(ret, AUTH_INCOMPLETE, "The request has no method.");
		goto out;
	}
	if (req->n_headers > AUTH_MAX_HEADERS) {
		r = refuse(ret, AUTH_INCOMPLETE, "The request has more than %d headers.",
		           AUTH_MAX_HEADERS);
		goto out;
	}
	if (req->raw_path && strlen(req->raw_path) > AUTH_MAX_PATH) {
		r = refuse(ret, AUTH_INCOMPLETE,
		           "The request's path is too long to verify (over %d bytes).",
		           AUTH_MAX_PATH);
		goto out;
	}
	if (query_parse(req->raw_query, &q) < 0) {
		r = refuse(
		    ret, AUTH_INCOMPLETE,
		    "The query string is too long to verify (over %d bytes or %d parameters).",
		    AUTH_MAX_QUERY, AUTH_MAX_QUERY_PARAMS);
		goto out;
	}
	size_t n_auth, auth_len = 0;
	const char *auth = header_get(req, "authorization", &n_auth, &auth_len);
	bool query_auth = query_get(&q, "X-Amz-Algorithm", NULL) ||
	                  query_get(&q, "X-Amz-Credential", NULL) ||
	                  query_get(&q, "X-Amz-Signature", NULL);
	if (!auth && !query_auth) {
		r = refuse(ret, AUTH_MISSING, "Missing Authentication Token");
		goto out;
	}
	if (n_auth > 1 || (auth && query_auth)) {
		r = refuse(
		    ret, AUTH_INCOMPLETE,
		    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or "
		    "one Authorization header should be specified");
		goto out;
	}
	r = auth ? parse_authorization(auth, auth_len, &sig, ret) : parse_presigned(&q, &sig, ret);
	if (r < 0)
		goto out;
	if (!signature_ok(&sig)) {
		_cleanup_free_ char *s = shown(sig.signature, sig.signature_len);
		r = refuse(ret, AUTH_INCOMPLETE,
		           "Signature must be 64 hexadecimal digits, not '%s'.", s);
		goto out;
	}
	struct scope scope;
	if ((r = parse_credential(&sig, &scope, ret)) < 0 ||
	    (r = check_signed_headers(&sig, ret)) < 0)
		goto out;
	time_t date = 0;
	char iso[17] = "";
	if ((r = request_date(req, &sig, auth ? auth : "", &date, iso, ret)) < 0)
		goto out;
	if (scope.date_len != 8 || memcmp(scope.date, iso, 8) != 0) {
		_cleanup_free_ char *d = shown(scope.date, scope.date_len);
		r = refuse(ret, AUTH_BAD_SIGNATURE,
		           "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
		           "of date "
		           "from HTTP: '%s' != '%.8s', from '%s'.",
		           d, iso, iso);
		goto out;
	}
	if (!token_is(scope.region, scope.region_len, region)) {
		_cleanup_free_ char *s = shown(scope.region, scope.region_len);
		r = refuse(ret, AUTH_BAD_SIGNATURE,
		           "Credential should be scoped to a valid region, not '%s'. ", s);
		goto out;
	}
	if (!token_is(scope.service, scope.service_len, service)) {
		r = refuse(ret, AUTH_BAD_SIGNATURE,
		           "Credential should be scoped to correct service: '%s'. ", service);
		goto out;
	}
	const struct auth_key *key = auth_keys_find(keys, scope.akid);
	if (!key || !key->secret_access_key) {
		r = refuse(ret, AUTH_UNKNOWN_KEY,
		           "The security token included in the request is invalid.");
		goto out;
	}
	if ((r = check_clock(date, &sig, now, ret)) < 0)
		goto out;
	const char *hash = NULL;
	if ((r = payload_hash(req, &hash, ret)) < 0)
		goto out;

	const char *missing = NULL;
	size_t missing_len = 0;
	r = build_canonical(&canon, req, &q, &sig, hash, &missing, &missing_len);
	if (r == -ENOENT) {
		_cleanup_free_ char *m = shown(missing, missing_len);
		r = refuse(ret, AUTH_INCOMPLETE,
		           "SignedHeaders names '%s', which the request does not carry.", m);
		goto out;
	}
	if (r < 0) {
		r = refuse(ret, AUTH_INCOMPLETE, "The request is too large to verify.");
		goto out;
	}

	unsigned char mac[32];
	sign(key->secret_access_key, iso, region, service, canon.data, canon.len, mac);
	unsigned char sent[32];
	for (size_t i = 0; i < 32; i++)
		sent[i] = (unsigned char)(hex_digit_value((unsigned char)sig.signature[2 * i]) << 4 |
		                          hex_digit_value((unsigned char)sig.signature[2 * i + 1]));
	if (CRYPTO_memcmp(sent, mac, sizeof(mac)) != 0) {
		r = refuse(ret, AUTH_BAD_SIGNATURE, "%s", msg_bad_signature);
		goto out;
	}
	ret->error = AUTH_OK;
	ret->key = key;
	r = 0;
out:
	free(canon.data);
	query_clear(&q);
	return r;
}

/* Signing */

/* A method as HTTP spells it: upper-case letters. */
static bool method_ok(const char *m)
{
	if (!m || !*m || strlen(m) > 32)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

/* A request target's part as it goes on the wire: visible ASCII only. */
static bool target_part_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* A header value the signer sends as it signs it: visible ASCII and
 * blanks.  A line end would split the header; other control bytes and
 * non-ASCII white space are collapsed differently by other signers. */
static bool header_value_ok(const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return false;
	}
	return true;
}

/* A part of the credential scope: 1 to max characters of letters, digits
 * and extra; nothing that would split the scope ('/', ',', blanks). */
static bool scope_part_ok(const char *s, size_t max, const char *extra)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    !strchr(extra, c))
			return false;
	}
	return true;
}

/* Whether s is 64 lower-case hex digits. */
static bool sha256_hex_ok(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* qsort's order of lower-case header names. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * botocore's SigV4Auth: the signed headers are every header given, named
 * in lower case, sorted and each once; the canonical request is the one
 * auth_verify() builds from the same SignedHeaders, so the signer and the
 * verifier cannot disagree on it.
 */
int auth_sign(const struct auth_request *req, const struct auth_credentials *creds,
              const char *region, const char *service, time_t now, char ret_amz_date[17],
              char **ret_authorization)
{
	const char *names[AUTH_MAX_SIGNED_HEADERS], *values[AUTH_MAX_SIGNED_HEADERS];
	char *lower[AUTH_MAX_SIGNED_HEADERS];
	size_t n = 0, n_lower = 0;
	struct query q = {.n = 0};
	struct buf canon = {.max = AUTH_MAX_CANONICAL}, sh = {.max = AUTH_MAX_CANONICAL};
	char iso[17];
	bool host = false;
	int r = -EINVAL;

	if (!req || !creds || !method_ok(req->method) || !sha256_hex_ok(req->body_sha256_hex) ||
	    !scope_part_ok(creds->access_key_id, AUTH_MAX_CREDENTIAL / 2, "_.-") ||
	    !creds->secret_access_key || !*creds->secret_access_key ||
	    (creds->session_token &&
	     (!*creds->session_token || !header_value_ok(creds->session_token))) ||
	    !scope_part_ok(region, 63, "-") || !scope_part_ok(service, 63, "-"))
		return -EINVAL;
	if (!req->raw_path || req->raw_path[0] != '/' || !target_part_ok(req->raw_path) ||
	    (req->raw_query && !target_part_ok(req->raw_query)))
		return -EINVAL;
	if (strlen(req->raw_path) > AUTH_MAX_PATH || req->n_headers > AUTH_MAX_SIGNED_HEADERS - 2)
		return -E2BIG;
	if (creds->session_token && strlen(creds->session_token) > AUTH_MAX_CANONICAL / 2)
		return -E2BIG;
	format_amz_date(now, iso);

	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->header_names[i], *value = req->header_values[i];
		if (!name || !value || !header_value_ok(value) ||
		    strcasecmp(name, "authorization") == 0 || strcasecmp(name, "x-amz-date") == 0 ||
		    strcasecmp(name, "x-amz-security-token") == 0)
			goto out;
		names[n] = name;
		values[n++] = value;
	}
	names[n] = "X-Amz-Date";
	values[n++] = iso;
	if (creds->session_token) {
		names[n] = "X-Amz-Security-Token";
		values[n++] = creds->session_token;
	}
	for (size_t i = 0; i < n; i++) {
		char *l = str_tolower(names[i]);
		bool seen = false;
		for (size_t j = 0; j < n_lower && !seen; j++)
			seen = strcmp(lower[j], l) == 0;
		if (seen || !signed_header_name_ok(l, strlen(l))) {
			free(l);
			if (seen)
				continue;
			goto out;
		}
		host |= strcmp(l, "host") == 0;
		lower[n_lower++] = l;
	}
	if (!host)
		goto out;
	qsort(lower, n_lower, sizeof(lower[0]), name_cmp);
	for (size_t i = 0; i < n_lower; i++)
		if (buf_printf(&sh, "%s%s", i ? ";" : "", lower[i]) < 0) {
			r = -E2BIG;
			goto out;
		}

	if (query_parse(req->raw_query, &q) < 0) {
		r = -E2BIG;
		goto out;
	}
	/* What would make the verifier read another signature, or another
	 * payload hash, than this one. */
	if (query_get(&q, "X-Amz-Algorithm", NULL) || query_get(&q, "X-Amz-Credential", NULL) ||
	    query_get(&q, "X-Amz-Signature", NULL)) {
		r = -EINVAL;
		goto out;
	}
	size_t n_hash = 0, hash_len = 0;
	const char *sent_hash = header_get(req, "x-amz-content-sha256", &n_hash, &hash_len);
	if (sent_hash && (n_hash > 1 || !token_is(sent_hash, hash_len, req->body_sha256_hex))) {
		r = -EINVAL;
		goto out;
	}
	struct auth_request signed_req = *req;
	signed_req.header_names = names;
	signed_req.header_values = values;
	signed_req.n_headers = n;
	struct sig sig = {.signed_headers = sh.data, .signed_headers_len = sh.len};
	const char *missing = NULL;
	size_t missing_len = 0;
	r = build_canonical(&canon, &signed_req, &q, &sig, req->body_sha256_hex, &missing,
	                    &missing_len);
	if (r < 0) {
		r = -E2BIG; /* every signed header is there: only the bound is left */
		goto out;
	}

	unsigned char mac[32];
	char signature[65];
	sign(creds->secret_access_key, iso, region, service, canon.data, canon.len, mac);
	hex_encode(mac, sizeof(mac), signature);
	OPENSSL_cleanse(mac, sizeof(mac));
	*ret_authorization =
	    xasprintf(AUTH_ALGORITHM " Credential=%s/%.8s/%s/%s/" AUTH_TERMINATOR
	                             ", SignedHeaders=%s, Signature=%s",
	              creds->access_key_id, iso, region, service, sh.data, signature);
	memcpy(ret_amz_date, iso, sizeof(iso));
	r = 0;
out:
	for (size_t i = 0; i < n_lower; i++)
		free(lower[i]);
	free(canon.data);
	free(sh.data);
	query_clear(&q);
	return r;
}
