#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	unsigned secs = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	printf("hello from stdout\n");
	fflush(stdout);
	fprintf(stderr, "warning on stderr\n");
	printf("second stdout line\n");
	fflush(stdout);
	sleep(secs);
	fprintf(stderr, "exiting with 7\n");
	return 7;
}
