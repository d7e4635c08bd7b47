/*
 * What endpointctl prints of text that came from outside: container logs in
 * a FailureReason, model answers' headers, error messages.  Such text may
 * carry terminal control sequences; printed as it is, a model could move the
 * cursor, rewrite lines, set the window title or worse on the operator's
 * terminal.  Everything shown in tables and text goes through
 * text_escape(); JSON output stays JSON, its escapes made complete by
 * text_escape_json().
 */
#ifndef ENDPOINTCTL_TEXT_H
#define ENDPOINTCTL_TEXT_H

/*
 * A copy of s that a terminal shows as it is: newline, carriage return and
 * tab as \n, \r and \t, other C0 controls, DEL and bytes that are not UTF-8
 * as \xHH, C1 controls (U+0080-U+009F) as \u0080-\u009f.  Printable text,
 * accents and other characters included, is unchanged; so is a backslash.
 * NULL gives NULL.  The caller frees the result.
 */
char *text_escape(const char *s);

/*
 * A copy of valid UTF-8 JSON text (as jansson writes it, which escapes C0
 * controls already) with DEL and the C1 controls inside its strings written
 * as \u escapes too: the same JSON value, and nothing a terminal acts on.
 */
char *text_escape_json(const char *json);

#endif
