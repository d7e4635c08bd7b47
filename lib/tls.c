/*
 * TLS server contexts for the listeners.
 *
 * A struct tls_server holds one listener's current SSL_CTX.  A reload loads
 * the files into a new context first and swaps it in only when that worked,
 * so a broken renewal leaves the running certificate in place.  The swap
 * drops the holder's reference on the old context; every SSL made from it
 * holds one of its own (SSL_new() takes it), so connections made before the
 * swap finish under the old certificate and the context goes with the last
 * of them.
 *
 * The files are read here, on the loop, at start and at SIGHUP only: a
 * certificate and a key are a few KiB of local files.  A key with a
 * passphrase is refused rather than prompted for.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct tls_server {
	unsigned refs;
	SSL_CTX *ctx;      /* a reference of the holder's; each SSL holds its own */
	char *certificate; /* the files ctx was loaded from */
	char *key;
};

char *tls_error_string(void)
{
	struct buf b = {.max = 2048}; /* OpenSSL's queue is bounded, but say so */
	unsigned long e;
	char line[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, line, sizeof(line));
		if (b.len > 0)
			buf_append(&b, "; ", 2);
		buf_append(&b, line, strlen(line));
	}
	if (b.len == 0)
		return xstrdup("unknown error");
	return buf_steal(&b);
}

/* A key with a passphrase: give none (OpenSSL would prompt on the terminal). */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	return -1;
}

/* Whether path can be opened for reading, as a regular file; 0 or -errno. */
static int tls_check_file(const char *what, const char *path, char **ret_error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		int e = errno;
		*ret_error = xasprintf("TLS %s %s: %s", what, path, strerror(e));
		return -e;
	}
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r == 0 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r < 0)
		*ret_error = xasprintf("TLS %s %s: %s", what, path,
		                       r == -EINVAL ? "not a regular file" : strerror(-r));
	return r;
}

/* The private key in path, or NULL with *ret_error set. */
static EVP_PKEY *tls_read_key(const char *path, char **ret_error)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *pkey = NULL;

	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey) {
		_cleanup_free_ char *why = tls_error_string();
		*ret_error = xasprintf("TLS key %s: cannot read a PEM private key (a key with a "
		                       "passphrase is not supported): %s",
		                       path, why);
	}
	return pkey;
}

int tls_context_load(const char *certificate, const char *key, SSL_CTX **ret_ctx, char **ret_error)
{
	SSL_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	ERR_clear_error();
	r = tls_check_file("certificate", certificate, ret_error);
	if (r < 0)
		return r;
	r = tls_check_file("key", key, ret_error);
	if (r < 0)
		return r;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		_cleanup_free_ char *why = tls_error_string();
		*ret_error = xasprintf("TLS: cannot make a context: %s", why);
		return -ENOMEM;
	}
	r = -EINVAL;
	/* Older versions have known weaknesses, and no current client needs them. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		_cleanup_free_ char *why = tls_error_string();
		*ret_error = xasprintf("TLS: cannot require TLS 1.2: %s", why);
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_NO_RENEGOTIATION);
	/* An idle kept-alive connection holds no record buffers: up to
	 * max_connections of them may wait. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
		_cleanup_free_ char *why = tls_error_string();
		*ret_error =
		    xasprintf("TLS certificate %s: cannot read a PEM certificate chain: %s",
		              certificate, why);
		goto out;
	}
	pkey = tls_read_key(key, ret_error);
	if (!pkey)
		goto out;
	/* Said plainly here: OpenSSL's own words for it are "key values mismatch". */
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey) != 1) {
		ERR_clear_error();
		*ret_error =
		    xasprintf("TLS key %s does not match the certificate %s", key, certificate);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		_cleanup_free_ char *why = tls_error_string();
		*ret_error = xasprintf("TLS key %s: %s", key, why);
		goto out;
	}
	EVP_PKEY_free(pkey);
	*ret_ctx = ctx;
	return 0;

out:
	EVP_PKEY_free(pkey);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int tls_server_new(const char *certificate, const char *key, struct tls_server **ret,
                   char **ret_error)
{
	SSL_CTX *ctx = NULL;
	int r = tls_context_load(certificate, key, &ctx, ret_error);

	if (r < 0)
		return r;
	struct tls_server *t = xcalloc(1, sizeof(*t));
	t->refs = 1;
	t->ctx = ctx;
	t->certificate = xstrdup(certificate);
	t->key = xstrdup(key);
	*ret = t;
	return 0;
}

struct tls_server *tls_server_ref(struct tls_server *t)
{
	if (t)
		t->refs++;
	return t;
}

struct tls_server *tls_server_unref(struct tls_server *t)
{
	if (!t || --t->refs > 0)
		return NULL;
	SSL_CTX_free(t->ctx);
	free(t->certificate);
	free(t->key);
	free(t);
	return NULL;
}

int tls_server_reload(struct tls_server *t, const char *certificate, const char *key,
                      char **ret_error)
{
	SSL_CTX *ctx = NULL;
	int r = tls_context_load(certificate, key, &ctx, ret_error);

	if (r < 0)
		return r;
	SSL_CTX_free(t->ctx); /* connections made under it keep it */
	t->ctx = ctx;
	if (strcmp(t->certificate, certificate) != 0) {
		free(t->certificate);
		t->certificate = xstrdup(certificate);
	}
	if (strcmp(t->key, key) != 0) {
		free(t->key);
		t->key = xstrdup(key);
	}
	return 0;
}

const char *tls_server_certificate(const struct tls_server *t)
{
	return t->certificate;
}

const char *tls_server_key(const struct tls_server *t)
{
	return t->key;
}

SSL *tls_server_new_ssl(struct tls_server *t)
{
	SSL *ssl = SSL_new(t->ctx);

	if (!ssl)
		ERR_clear_error();
	return ssl;
}

SSL_CTX *tls_server_context(const struct tls_server *t)
{
	return t->ctx;
}
