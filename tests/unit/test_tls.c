/*
 * Unit tests for lib/tls.c: loading a certificate and key into a server
 * context, the errors that name the file at fault, and the swap a reload
 * makes.  The certificates are made here, with OpenSSL, in a temporary
 * directory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"
#include "util.h"

static char dir[] = "/tmp/test_tls.XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(tls, .init = setup, .fini = teardown);

/* A path in the test's directory. */
static char *path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	cr_assert_not_null(k);
	return k;
}

/* A self-signed certificate of key with serial, written as PEM to name. */
static char *write_certificate(const char *name, EVP_PKEY *key, long serial)
{
	X509 *x = X509_new();
	cr_assert_not_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
	                           -1, 0);
	X509_set_issuer_name(x, n);
	cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
	char *path = path_of(name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_free(x);
	return path;
}

/* key as PEM to name, encrypted with a passphrase when one is given. */
static char *write_key(const char *name, EVP_PKEY *key, const char *passphrase)
{
	char *path = path_of(name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	if (passphrase)
		cr_assert_eq(PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(),
		                                  (const unsigned char *)passphrase,
		                                  (int)strlen(passphrase), NULL, NULL),
		             1);
	else
		cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	return path;
}

static char *write_text(const char *name, const char *text)
{
	char *path = path_of(name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* The serial of the certificate ssl would present. */
static long serial_of(SSL *ssl)
{
	X509 *x = SSL_get_certificate(ssl);
	cr_assert_not_null(x);
	return ASN1_INTEGER_get(X509_get0_serialNumber(x));
}

Test(tls, loads_a_certificate_and_its_key_requiring_tls_1_2)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	struct tls_server *t = NULL;
	char *error = NULL;

	cr_assert_eq(tls_server_new(cert, key, &t, &error), 0, "%s", error);
	cr_assert_str_eq(tls_server_certificate(t), cert);
	cr_assert_str_eq(tls_server_key(t), key);
	SSL_CTX *ctx = tls_server_context(t);
	cr_assert_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL *ssl = tls_server_new_ssl(t);
	cr_assert_eq(serial_of(ssl), 1);
	SSL_free(ssl);
	tls_server_unref(t);
	EVP_PKEY_free(k);
}

Test(tls, a_missing_certificate_is_refused_naming_the_file)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	_cleanup_free_ char *cert = path_of("missing.crt");
	struct tls_server *t = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ char *want = xasprintf("TLS certificate %s: No such file or directory", cert);

	cr_assert_eq(tls_server_new(cert, key, &t, &error), -ENOENT);
	cr_assert_null(t);
	cr_assert_str_eq(error, want);
	EVP_PKEY_free(k);
}

Test(tls, a_missing_key_is_refused_naming_the_file)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = path_of("missing.key");
	struct tls_server *t = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ char *want = xasprintf("TLS key %s: No such file or directory", key);

	cr_assert_eq(tls_server_new(cert, key, &t, &error), -ENOENT);
	cr_assert_str_eq(error, want);
	EVP_PKEY_free(k);
}

Test(tls, a_key_that_is_not_the_certificates_is_refused_naming_both)
{
	EVP_PKEY *k = new_key(), *other = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = write_key("other.key", other, NULL);
	struct tls_server *t = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ char *want =
	    xasprintf("TLS key %s does not match the certificate %s", key, cert);

	cr_assert_eq(tls_server_new(cert, key, &t, &error), -EINVAL);
	cr_assert_str_eq(error, want);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

Test(tls, a_certificate_that_is_not_pem_is_refused_with_openssls_reason)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *cert = write_text("a.crt", "not a certificate\n");
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	struct tls_server *t = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ char *want =
	    xasprintf("TLS certificate %s: cannot read a PEM certificate chain: ", cert);

	cr_assert_eq(tls_server_new(cert, key, &t, &error), -EINVAL);
	cr_assert(strncmp(error, want, strlen(want)) == 0, "%s", error);
	cr_assert(strstr(error, "no start line") != NULL, "%s", error);
	EVP_PKEY_free(k);
}

Test(tls, a_key_with_a_passphrase_is_refused_not_prompted_for)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = write_key("a.key", k, "secret");
	struct tls_server *t = NULL;
	_cleanup_free_ char *error = NULL;

	cr_assert_eq(tls_server_new(cert, key, &t, &error), -EINVAL);
	cr_assert(strstr(error, key) != NULL && strstr(error, "passphrase") != NULL, "%s", error);
	EVP_PKEY_free(k);
}

Test(tls, a_directory_is_refused_as_a_certificate)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	struct tls_server *t = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ char *want = xasprintf("TLS certificate %s: not a regular file", dir);

	cr_assert_eq(tls_server_new(dir, key, &t, &error), -EINVAL);
	cr_assert_str_eq(error, want);
	EVP_PKEY_free(k);
}

Test(tls, a_reload_serves_the_new_certificate_to_new_connections_only)
{
	EVP_PKEY *k = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	struct tls_server *t = NULL;
	char *error = NULL;

	cr_assert_eq(tls_server_new(cert, key, &t, &error), 0, "%s", error);
	SSL *before = tls_server_new_ssl(t);
	free(write_certificate("a.crt", k, 2)); /* renewed in place */
	cr_assert_eq(tls_server_reload(t, cert, key, &error), 0, "%s", error);
	SSL *after = tls_server_new_ssl(t);
	cr_assert_eq(serial_of(after), 2);
	cr_assert_eq(serial_of(before), 1, "a connection made before keeps its certificate");
	tls_server_unref(t);
	cr_assert_eq(serial_of(before), 1, "and outlives the holder");
	SSL_free(before);
	SSL_free(after);
	EVP_PKEY_free(k);
}

Test(tls, a_reload_may_name_other_files)
{
	EVP_PKEY *k = new_key(), *k2 = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	_cleanup_free_ char *cert2 = write_certificate("b.crt", k2, 7);
	_cleanup_free_ char *key2 = write_key("b.key", k2, NULL);
	struct tls_server *t = NULL;
	char *error = NULL;

	cr_assert_eq(tls_server_new(cert, key, &t, &error), 0, "%s", error);
	cr_assert_eq(tls_server_reload(t, cert2, key2, &error), 0, "%s", error);
	cr_assert_str_eq(tls_server_certificate(t), cert2);
	cr_assert_str_eq(tls_server_key(t), key2);
	SSL *ssl = tls_server_new_ssl(t);
	cr_assert_eq(serial_of(ssl), 7);
	SSL_free(ssl);
	tls_server_unref(t);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

Test(tls, a_failed_reload_keeps_the_running_certificate)
{
	EVP_PKEY *k = new_key(), *other = new_key();
	_cleanup_free_ char *cert = write_certificate("a.crt", k, 1);
	_cleanup_free_ char *key = write_key("a.key", k, NULL);
	struct tls_server *t = NULL;
	char *error = NULL;

	cr_assert_eq(tls_server_new(cert, key, &t, &error), 0, "%s", error);
	/* Renewed with a new key, but the key file not replaced yet. */
	free(write_certificate("a.crt", other, 2));
	cr_assert_eq(tls_server_reload(t, cert, key, &error), -EINVAL);
	cr_assert(strstr(error, "does not match") != NULL, "%s", error);
	free(error);
	SSL *ssl = tls_server_new_ssl(t);
	cr_assert_eq(serial_of(ssl), 1);
	SSL_free(ssl);
	tls_server_unref(t);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}
