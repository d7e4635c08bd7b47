/* Log records on stderr: text that came from outside cannot forge a record
 * or drive the terminal. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <unistd.h>

#include "log.h"

static void setup(void)
{
	cr_redirect_stderr();
	log_open("endpointd", LOG_DEBUG, 0);
}

Test(log, a_newline_in_a_message_stays_on_one_line, .init = setup)
{
	log_error("model said: %s", "one\nendpointd[1]: crit: forged");
	fflush(stderr);
	char want[128];
	snprintf(want, sizeof(want),
	         "endpointd[%d]: err: model said: one\\x0aendpointd[1]: crit: forged\n",
	         (int)getpid());
	cr_assert_stderr_eq_str(want);
}

Test(log, escape_sequences_and_bad_bytes_are_shown_not_sent, .init = setup)
{
	log_warning("%s", "\x1b[2J\xff"
	                  "ok\tok");
	fflush(stderr);
	char want[128];
	snprintf(want, sizeof(want), "endpointd[%d]: warning: \\x1b[2J\xef\xbf\xbdok\tok\n",
	         (int)getpid());
	cr_assert_stderr_eq_str(want);
}
