/*
 * gpu_discover() against fake_nvml.c, a fake libnvidia-ml built next to this
 * test and scripted through FAKE_NVML_* (see its top), and against libraries
 * that are not NVML.  Criterion runs each test in a process of its own, so
 * the environment set here does not leak from one test to the next.
 *
 * The gpu_nodes suite checks the fake itself: asked to, it wants the device
 * nodes the real library opens, so that a daemon under a sandbox that hides
 * them finds no GPUs (tests/systemd boots the unit with it).  Symbolic links
 * to /dev/null stand in for the nodes: making real ones needs CAP_MKNOD.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "util.h"

/* The fake NVML of this build: $FAKE_NVML_LIBRARY (make check sets it), else
 * libfakenvml.so next to this binary (tests/unit/). */
static const char *fake_library(void)
{
	static char *path;
	char self[4096];
	ssize_t n;

	if (getenv("FAKE_NVML_LIBRARY") && *getenv("FAKE_NVML_LIBRARY"))
		return getenv("FAKE_NVML_LIBRARY");
	if (!path) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		cr_assert_gt(n, 0);
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		path = xasprintf("%s/libfakenvml.so", self);
	}
	cr_assert_eq(access(path, R_OK), 0, "%s: %s (make -C tests unit/libfakenvml.so)", path,
	             strerror(errno));
	return path;
}

/* Starts every test with a fake that has no GPUs and no failures. */
static void setup(void)
{
	unsetenv("FAKE_NVML_GPUS");
	unsetenv("FAKE_NVML_INIT_ERROR");
	unsetenv("FAKE_NVML_NAME_ERROR");
	unsetenv("FAKE_NVML_SHUTDOWNS");
	unsetenv("FAKE_NVML_REQUIRE_DEVICES");
	unsetenv("FAKE_NVML_DEV_DIR");
}

TestSuite(gpu, .init = setup);

Test(gpu, two_gpus_are_listed_in_nvml_order_with_index_uuid_name_and_memory)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_GPUS",
	       "GPU-5b9c0f1e-0000-1111-2222-333344445555|NVIDIA H100 80GB HBM3|85520809984;"
	       "GPU-0a1b2c3d-6666-7777-8888-9999aaaabbbb|NVIDIA A10G|24146608128",
	       1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0, "%s", error);
	cr_assert_eq(n, 2);
	cr_expect_eq(gpus[0].index, 0);
	cr_expect_str_eq(gpus[0].uuid, "GPU-5b9c0f1e-0000-1111-2222-333344445555");
	cr_expect_str_eq(gpus[0].name, "NVIDIA H100 80GB HBM3");
	cr_expect_eq(gpus[0].memory, UINT64_C(85520809984));
	cr_expect_eq(gpus[1].index, 1);
	cr_expect_str_eq(gpus[1].uuid, "GPU-0a1b2c3d-6666-7777-8888-9999aaaabbbb");
	cr_expect_str_eq(gpus[1].name, "NVIDIA A10G");
	cr_expect_eq(gpus[1].memory, UINT64_C(24146608128));
}

Test(gpu, no_gpus_is_success_with_none_listed)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 99;

	setenv("FAKE_NVML_GPUS", "", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0, "%s", error);
	cr_expect_eq(n, 0);
}

Test(gpu, a_library_that_does_not_exist_is_enoent_in_words_naming_it)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	cr_assert_eq(gpu_discover("/nonexistent/libnvidia-ml.so.1", &gpus, &n, &error), -ENOENT);
	cr_assert_not_null(error);
	cr_expect(strstr(error, "/nonexistent/libnvidia-ml.so.1"), "error: %s", error);
}

Test(gpu, a_library_without_the_nvml_symbols_is_enosys_naming_the_symbol)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	cr_assert_eq(gpu_discover("libm.so.6", &gpus, &n, &error), -ENOSYS, "%s",
	             error ? error : "");
	cr_assert_not_null(error);
	cr_expect(strstr(error, "nvmlInit_v2"), "error: %s", error);
}

Test(gpu, nvml_init_failing_is_eio_with_nvml_words)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_INIT_ERROR", "9", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	cr_assert_not_null(error);
	cr_expect(strstr(error, "fake error 9"), "error: %s", error);
}

Test(gpu, a_gpu_nvml_cannot_read_is_eio_naming_the_gpu_with_nvml_words)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_GPUS", "GPU-1|NVIDIA A10G|24146608128", 1);
	setenv("FAKE_NVML_NAME_ERROR", "3", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	cr_assert_not_null(error);
	cr_expect(strstr(error, "GPU 0"), "error: %s", error);
	cr_expect(strstr(error, "fake error 3"), "error: %s", error);
}

Test(gpu, nvml_is_shut_down_once_after_listing)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_GPUS", "GPU-1|NVIDIA A10G|24146608128", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0, "%s", error);
	cr_assert_not_null(getenv("FAKE_NVML_SHUTDOWNS"));
	cr_expect_str_eq(getenv("FAKE_NVML_SHUTDOWNS"), "1");
}

Test(gpu, nvml_is_shut_down_once_when_a_gpu_cannot_be_read)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_GPUS", "GPU-1|NVIDIA A10G|24146608128", 1);
	setenv("FAKE_NVML_NAME_ERROR", "3", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	cr_assert_not_null(getenv("FAKE_NVML_SHUTDOWNS"));
	cr_expect_str_eq(getenv("FAKE_NVML_SHUTDOWNS"), "1");
}

Test(gpu, nvml_is_not_shut_down_when_its_init_failed)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_INIT_ERROR", "9", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	cr_expect_null(getenv("FAKE_NVML_SHUTDOWNS"));
}

Test(gpu, discovering_twice_lists_the_same_gpus)
{
	_cleanup_free_ struct gpu *first = NULL, *second = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n_first = 0, n_second = 0;

	setenv("FAKE_NVML_GPUS", "GPU-1|NVIDIA A10G|24146608128;GPU-2|NVIDIA A10G|24146608128", 1);
	cr_assert_eq(gpu_discover(fake_library(), &first, &n_first, &error), 0, "%s", error);
	cr_assert_eq(gpu_discover(fake_library(), &second, &n_second, &error), 0, "%s", error);
	cr_assert_eq(n_second, n_first);
	cr_expect_str_eq(second[1].uuid, first[1].uuid);
}

Test(gpu, null_library_means_libnvidia_ml_so_1)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;
	int r = gpu_discover(NULL, &gpus, &n, &error);

	if (r == 0)
		cr_skip_test("libnvidia-ml.so.1 loads on this host (%zu GPUs)", n);
	if (r != -ENOENT)
		cr_skip_test("libnvidia-ml.so.1 loads here but NVML fails: %s", error);
	cr_assert_not_null(error);
	cr_expect(strstr(error, "libnvidia-ml.so.1"), "error: %s", error);
}

Test(gpu, outputs_are_untouched_on_failure)
{
	struct gpu sentinel;
	struct gpu *gpus = &sentinel;
	_cleanup_free_ char *error = NULL;
	size_t n = 42;

	setenv("FAKE_NVML_GPUS", "GPU-1|NVIDIA A10G|24146608128", 1);
	setenv("FAKE_NVML_NAME_ERROR", "3", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	cr_expect_eq(gpus, &sentinel);
	cr_expect_eq(n, 42);
}

Test(gpu, the_error_is_untouched_on_success)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	char *error = (char *)"untouched";
	size_t n = 0;

	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0);
	cr_expect_str_eq(error, "untouched");
}

/* ------------------------------------------------------------------------ */
/* The fake's device nodes */

static char dev_dir[64];

/* A fake as in setup, whose nodes are looked for in an empty dev_dir. */
static void nodes_setup(void)
{
	setup();
	snprintf(dev_dir, sizeof(dev_dir), "/tmp/test-gpu-dev-XXXXXX");
	cr_assert_not_null(mkdtemp(dev_dir));
	setenv("FAKE_NVML_DEV_DIR", dev_dir, 1);
	setenv("FAKE_NVML_GPUS", "GPU-1|NVIDIA A10G|24146608128;GPU-2|NVIDIA A10G|24146608128", 1);
}

/* nftw: remove what a test left in dev_dir, and dev_dir. */
static int nodes_remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void nodes_teardown(void)
{
	nftw(dev_dir, nodes_remove_cb, 4, FTW_DEPTH | FTW_PHYS);
}

/* dev_dir/name, a character device anyone may open (/dev/null's). */
static void add_node(const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dev_dir, name);
	cr_assert_eq(symlink("/dev/null", path), 0, "%s: %s", path, strerror(errno));
}

/* dev_dir/name, a regular file. */
static void add_file(const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dev_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	close(fd);
}

TestSuite(gpu_nodes, .init = nodes_setup, .fini = nodes_teardown);

Test(gpu_nodes, unasked_the_fake_lists_its_gpus_without_any_device_node)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0, "%s", error);
	cr_expect_eq(n, 2);
}

Test(gpu_nodes, with_nvidiactl_and_a_node_per_gpu_the_gpus_are_listed)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_REQUIRE_DEVICES", "1", 1);
	add_node("nvidiactl");
	add_node("nvidia0");
	add_node("nvidia1");
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0, "%s", error);
	cr_expect_eq(n, 2);
}

Test(gpu_nodes, without_nvidiactl_init_fails_as_driver_not_loaded_naming_it)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_REQUIRE_DEVICES", "1", 1);
	add_node("nvidia0");
	add_node("nvidia1");
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	_cleanup_free_ char *want = xasprintf(
	    "nvmlInit_v2: fake error 9: %s/nvidiactl: No such file or directory", dev_dir);
	cr_expect_str_eq(error, want);
}

Test(gpu_nodes, without_the_node_of_one_gpu_init_fails_naming_that_node)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_REQUIRE_DEVICES", "1", 1);
	add_node("nvidiactl");
	add_node("nvidia0");
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	_cleanup_free_ char *want = xasprintf("%s/nvidia1: ", dev_dir);
	cr_expect(strstr(error, want), "error: %s", error);
}

Test(gpu_nodes, a_node_that_is_not_a_character_device_fails_init)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_REQUIRE_DEVICES", "1", 1);
	add_file("nvidiactl");
	add_node("nvidia0");
	add_node("nvidia1");
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), -EIO);
	cr_expect(strstr(error, "fake error 9: "), "error: %s", error);
	cr_expect(strstr(error, "/nvidiactl: not a character device"), "error: %s", error);
}

Test(gpu_nodes, require_devices_other_than_1_looks_at_no_node)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	setenv("FAKE_NVML_REQUIRE_DEVICES", "0", 1);
	cr_assert_eq(gpu_discover(fake_library(), &gpus, &n, &error), 0, "%s", error);
	cr_expect_eq(n, 2);
}
