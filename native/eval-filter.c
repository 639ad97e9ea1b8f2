// SafeSteer's native eval filter: a llama.cpp eval callback (ggml_backend_sched_eval_callback) that
// answers llama.cpp's "do you want this node?" in C, so that a decode reaches JavaScript only for the
// graph nodes an observer needs (none at all while nothing is hooked). Compiled on the user's machine
// (`safesteer engine build`, or on first use with `cc`) against the loaded build's libggml-base; see
// src/native/eval-filter.ts. Every entry point checks its arguments: bad input is an error code,
// never a crash of the host process.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ggml_tensor;
// libggml-base (ggml.h); the only ggml symbol used
const char * ggml_get_name(const struct ggml_tensor * tensor);

typedef bool (*ss_eval_cb)(struct ggml_tensor * t, bool ask, void * user_data);

// GGML_MAX_NAME: a node name is shorter than this
#define SS_NAME_MAX 64
#define SS_NAMES_MAX 65536
#define SS_MAGIC 0x53534546u
// bump when the layout of ss_counters or a signature changes (src/native/eval-filter.ts checks it)
#define SS_ABI 1

enum { SS_NONE = 0, SS_ALL = 1, SS_SET = 2 };

// Read and reset by JavaScript through a view of this memory: 32-bit fields, in this order.
struct ss_counters {
    uint32_t mode;   // SS_NONE: answer no to every node; SS_ALL: pass every node on; SS_SET: only names in the set
    uint32_t graphs; // graph starts seen (the node llama.cpp names "embd" comes first in every graph)
    uint32_t asks;   // nodes llama.cpp asked about
    uint32_t calls;  // calls passed on to JavaScript (questions and computed tensors)
};

struct ss_filter {
    struct ss_counters c; // first: JavaScript reads it at the filter's address
    uint32_t magic;
    ss_eval_cb js;
    void * js_ud;
    int32_t n_names;
    char * names; // n_names sorted entries of SS_NAME_MAX bytes
};

int32_t ss_filter_abi(void) { return SS_ABI; }

struct ss_filter * ss_filter_new(ss_eval_cb js, void * js_ud) {
    if (!js) return NULL;
    struct ss_filter * f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->magic = SS_MAGIC;
    f->js = js;
    f->js_ud = js_ud;
    f->c.mode = SS_ALL;
    return f;
}

void ss_filter_free(struct ss_filter * f) {
    if (!f || f->magic != SS_MAGIC) return;
    f->magic = 0;
    free(f->names);
    free(f);
}

static int cmp_name(const void * a, const void * b) { return strncmp(a, b, SS_NAME_MAX); }

// Sets what is passed on: mode, and for SS_SET the names, packed one after another, each ended by a
// NUL, in buf of buf_len bytes. 0 on success; on an error the filter keeps what it had:
// -1 no filter, -2 unknown mode, -3 bad count, -4 a name empty, too long or past the buffer, -5 out of memory.
int32_t ss_filter_set(struct ss_filter * f, int32_t mode, const char * buf, int32_t buf_len, int32_t n) {
    if (!f || f->magic != SS_MAGIC) return -1;
    if (mode != SS_NONE && mode != SS_ALL && mode != SS_SET) return -2;
    if (mode != SS_SET) {
        f->c.mode = (uint32_t) mode;
        return 0;
    }
    if (n < 0 || n > SS_NAMES_MAX || buf_len < 0 || (n > 0 && !buf)) return -3;
    char * names = n > 0 ? calloc((size_t) n, SS_NAME_MAX) : NULL;
    if (n > 0 && !names) return -5;
    int32_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t len = 0;
        while (at + len < buf_len && buf[at + len] != '\0') len++;
        if (len == 0 || len >= SS_NAME_MAX || at + len >= buf_len) {
            free(names);
            return -4;
        }
        memcpy(names + (size_t) i * SS_NAME_MAX, buf + at, (size_t) len);
        at += len + 1;
    }
    if (n > 1) qsort(names, (size_t) n, SS_NAME_MAX, cmp_name);
    free(f->names);
    f->names = names;
    f->n_names = n;
    f->c.mode = SS_SET;
    return 0;
}

static bool wanted(const struct ss_filter * f, const char * name) {
    int32_t lo = 0, hi = f->n_names - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = strncmp(name, f->names + (size_t) mid * SS_NAME_MAX, SS_NAME_MAX);
        if (c == 0) return true;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return false;
}

// The eval callback llama.cpp calls (cb_eval, with the filter as cb_eval_user_data).
static bool ss_filter_eval(struct ggml_tensor * t, bool ask, void * user_data) {
    struct ss_filter * f = user_data;
    if (!f || f->magic != SS_MAGIC || !t) return false;
    if (!ask) {
        // llama.cpp hands over only the nodes this callback said yes to: JavaScript wanted this one
        f->c.calls++;
        return f->js(t, false, f->js_ud);
    }
    f->c.asks++;
    const char * name = ggml_get_name(t);
    if (!name) return false;
    if (name[0] == 'e' && strcmp(name, "embd") == 0) f->c.graphs++;
    if (f->c.mode == SS_NONE) return false;
    if (f->c.mode == SS_SET && !wanted(f, name)) return false;
    f->c.calls++;
    return f->js(t, true, f->js_ud);
}

// The callback's address, for llama_context_params.cb_eval.
void * ss_filter_eval_fn(void) { return (void *) ss_filter_eval; }
