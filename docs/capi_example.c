/* A C program that runs messages on a fabric through fabricsim's C ABI.
 *   cargo build --release -p fabricsim-capi
 *   cc docs/capi_example.c -I rust/capi -L target/release -lfabricsim -o capi_example
 *   LD_LIBRARY_PATH=target/release ./capi_example specs/fabric/dgx8_nvswitch.toml
 */
#include <stdio.h>
#include <stdlib.h>

#include "fabricsim.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) { free(text); text = NULL; }
    if (text) text[n] = '\0';
    fclose(f);
    return text;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FABRIC.toml\n", argv[0]); return 2; }
    char *text = read_file(argv[1]);
    if (!text) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    FsFabric *fabric = NULL;
    if (fs_fabric_new(text, "toml", &fabric) != FS_OK) {
        fprintf(stderr, "fabric: %s\n", fs_last_error());
        free(text);
        return 1;
    }
    free(text);
    uint32_t src[2] = {0, 1}, dst[2] = {1, 0};
    uint64_t bytes[2] = {4096, 65536};
    FsResult *result = NULL;
    if (fs_run_messages(fabric, 2, src, dst, bytes, NULL, NULL, 0, &result) != FS_OK) {
        fprintf(stderr, "run: %s\n", fs_last_error());
        fs_fabric_free(fabric);
        return 1;
    }
    uint64_t deliver[2];
    fs_result_message_times(result, NULL, deliver, 2);
    for (int i = 0; i < 2; i++)
        printf("message %d: %llu B delivered at %llu ps\n", i, (unsigned long long)bytes[i],
               (unsigned long long)deliver[i]);
    fs_result_free(result);
    fs_fabric_free(fabric);
    return 0;
}
