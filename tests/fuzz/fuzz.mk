# The libFuzzer harnesses: built with clang, apart from the gcc build, with
# their own objects of lib/*.c (instrumented for coverage, ASan and UBSan).
# Run from the top build directory's `make fuzz`, `make fuzz-build` and
# `make fuzz-ci`, which pass top_srcdir and the libraries' flags (DEPS_CFLAGS,
# DEPS_LIBS) as configure found them.
#
#   fuzz-build  build every harness (tests/fuzz/fuzz_*)
#   fuzz        run each for FUZZ_SECONDS (600) or until a crash, one after
#               the other, growing tests/fuzz/found/<harness> in the build
#               directory from the seeds in the source tree
#   fuzz-ci     replay every seed corpus, then run each harness for
#               FUZZ_CI_SECONDS (10) from its seeds; fails on any crash
#
# A crash leaves its input as tests/fuzz/crash-* in the build directory;
# rerun it with `tests/fuzz/fuzz_NAME crash-…`.

FUZZ_CC ?= clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -g -O1 -std=gnu11 $(FUZZ_SAN) -Wall -Wextra -Wno-unused-parameter \
	-DPKGLIBEXECDIR=\"/nonexistent\" -I$(top_srcdir)/lib -I$(top_srcdir)/tests/fuzz $(DEPS_CFLAGS)
FUZZ_LIBS = $(DEPS_LIBS) -lm -ldl
# TLS listeners (lib/tls.c, lib/httpd.c): libssl and libevent_openssl.
FUZZ_CFLAGS += $(SSL_CFLAGS)
FUZZ_LIBS += $(SSL_LIBS)
FUZZ_RUN_FLAGS = -close_fd_mask=3 -rss_limit_mb=2048 -timeout=20
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 10

HARNESSES = docker upstream config_daemon config_resource journal api invoke httpreq dialer engine auth
HARNESSES += awsconfig
HARNESSES += swarm
LIB_SRCS := $(wildcard $(top_srcdir)/lib/*.c)
LIB_OBJS := $(patsubst $(top_srcdir)/lib/%.c,obj/lib/%.o,$(LIB_SRCS))
BINS := $(patsubst %,fuzz_%,$(HARNESSES))

all: $(BINS)

obj/lib/%.o: $(top_srcdir)/lib/%.c $(wildcard $(top_srcdir)/lib/*.h)
	@mkdir -p obj/lib
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

obj/%.o: $(top_srcdir)/tests/fuzz/%.c $(top_srcdir)/tests/fuzz/fuzz.h $(wildcard $(top_srcdir)/lib/*.h)
	@mkdir -p obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

obj/libendpointd.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

fuzz_%: obj/fuzz_%.o obj/fuzz_common.o obj/libendpointd.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

# Every harness for FUZZ_SECONDS, new inputs kept in found/<harness>.
run: $(BINS)
	@for h in $(HARNESSES); do \
		mkdir -p found/$$h; \
		echo "fuzz: fuzz_$$h for $(FUZZ_SECONDS) s"; \
		./fuzz_$$h $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			found/$$h $(top_srcdir)/tests/fuzz/corpus/$$h || exit 1; \
	done

# The seeds once each, then a short run of each harness from them.
ci: $(BINS)
	@for h in $(HARNESSES); do \
		echo "fuzz: replaying $$(ls $(top_srcdir)/tests/fuzz/corpus/$$h | wc -l) seeds of fuzz_$$h"; \
		./fuzz_$$h $(FUZZ_RUN_FLAGS) -runs=0 $(top_srcdir)/tests/fuzz/corpus/$$h 2>replay-$$h.log || \
			{ tail -60 replay-$$h.log; exit 1; }; \
		rm -rf ci-corpus/$$h && mkdir -p ci-corpus/$$h; \
		./fuzz_$$h $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_CI_SECONDS) \
			ci-corpus/$$h $(top_srcdir)/tests/fuzz/corpus/$$h 2>run-$$h.log || \
			{ tail -60 run-$$h.log; exit 1; }; \
		grep -h 'Done [0-9]* runs' run-$$h.log | sed "s/^/fuzz: fuzz_$$h: /"; \
	done

clean:
	rm -rf obj $(BINS) ci-corpus replay-*.log run-*.log

.PHONY: all run ci clean
.SECONDARY:
