/* ctool: prints the greeting shipped beside it, its version and the machine it was built for. */
#include <stdio.h>
#include <stdlib.h>
#include "../build/version.h"

#if defined(__aarch64__)
#define ARCH "aarch64"
#elif defined(__x86_64__)
#define ARCH "x86_64"
#else
#define ARCH "unknown"
#endif

int main(int argc, char **argv) {
    const char *share = getenv("CTOOL_SHARE");
    char path[4096], line[256] = "hello";
    if (share && snprintf(path, sizeof path, "%s/greeting.txt", share) < (int)sizeof path) {
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(line, sizeof line, f)) {
                for (char *p = line; *p; p++)
                    if (*p == '\n') *p = 0;
            }
            fclose(f);
        }
    }
    printf("%s %s (%s)", line, CTOOL_VERSION, ARCH);
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    return 0;
}
