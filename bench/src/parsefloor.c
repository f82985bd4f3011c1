/* The floor for reading a table: parse FILE with libyaml into a document
 * (as swinetd's loader does, before any validation), walk every node, and
 * print how long that took. Usage: parsefloor FILE */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: parsefloor FILE\n"); return 64; }
    double t0 = now();
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) { fprintf(stderr, "parse error\n"); return 1; }
    long nodes = 0, bytes = 0;
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++) {
        nodes++;
        if (n->type == YAML_SCALAR_NODE) bytes += (long)n->data.scalar.length;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    printf("seconds %.6f\nnodes %ld\nbytes %ld\n", now() - t0, nodes, bytes);
    return 0;
}
