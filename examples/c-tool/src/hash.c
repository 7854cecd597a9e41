/* hash: prints the FNV-1a hash of each argument, one per line. */
#include <stdint.h>
#include <stdio.h>

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        printf("%s %08x\n", argv[i], fnv1a(argv[i]));
    }
    return 0;
}
