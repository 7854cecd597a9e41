/* fnv1a STRING: print the 32-bit FNV-1a hash of STRING as 8 hex digits. */
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fputs("usage: fnv1a STRING\n", stderr);
        return 2;
    }
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)argv[1]; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    printf("%08x\n", h);
    return 0;
}
