/* authledger.gateway._digest: the hot, pure parts of the digest scheme's canonicalisation, in C.
 *
 * An optional accelerator for authledger.gateway.signing, the pure-Python reference that defines the
 * semantics (tests/gateway/test_gateway_accelerator.py proves both equal with hypothesis);
 * authledger.gateway.accelerator picks this module when it is built and AUTHLEDGER_PURE_PYTHON is unset.
 *
 * Every function works on str objects through the CPython API (any kind: 1, 2 or 4 bytes
 * per character, lone surrogates included), checks every call that can fail, and holds
 * owned references to everything it keeps. Inputs outside the fast domain (str subclasses,
 * non-dict mappings, non-str values, other iterables) are handed, untouched, to the
 * function of the same name in authledger.gateway.signing, so every function here is total exactly
 * where its reference is. No Python code runs while a borrowed reference is held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Names X-Ca-Signature-Headers may list but that never form a Headers line. */
static const char *const EXCLUDED_NAMES[] = {
    "x-ca-signature", "x-ca-signature-headers", "accept", "content-md5", "content-type", "date",
};
#define NAMES_CACHE_MAX 512   /* parsed X-Ca-Signature-Headers values kept (cleared when full) */
#define NAMES_CACHEABLE 1024  /* longer values are parsed uncached */

static PyObject *excluded;     /* frozenset of EXCLUDED_NAMES */
static PyObject *names_cache;  /* dict: X-Ca-Signature-Headers value -> ((name, lower), ...) */
static PyObject *str_lower, *str_upper, *empty_str;
static PyObject *key_accept, *key_content_md5, *key_content_type, *key_date, *key_signature_headers;

/* -- a string builder: pieces (owned str or one character), joined once -------------------- */

typedef struct {
    PyObject *obj; /* owned reference, or NULL for `ch` */
    Py_UCS4 ch;
} Piece;

#define INLINE_PIECES 48

typedef struct {
    Piece *items;
    Py_ssize_t n, cap, length;
    Py_UCS4 maxchar;
    Piece inline_items[INLINE_PIECES];
} Builder;

static void
builder_init(Builder *b)
{
    b->items = b->inline_items;
    b->n = 0;
    b->cap = INLINE_PIECES;
    b->length = 0;
    b->maxchar = 0;
}

static void
builder_free(Builder *b)
{
    for (Py_ssize_t i = 0; i < b->n; i++) {
        Py_XDECREF(b->items[i].obj);
    }
    if (b->items != b->inline_items) {
        PyMem_Free(b->items);
    }
    b->items = b->inline_items;
    b->n = 0;
}

static inline int
builder_reserve_one(Builder *b)
{
    if (b->n < b->cap) {
        return 0;
    }
    if (b->cap > PY_SSIZE_T_MAX / 2 / (Py_ssize_t)sizeof(Piece)) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = b->cap * 2;
    Piece *items;
    if (b->items == b->inline_items) {
        items = PyMem_Malloc((size_t)cap * sizeof(Piece));
        if (items != NULL) {
            memcpy(items, b->items, (size_t)b->n * sizeof(Piece));
        }
    }
    else {
        items = PyMem_Realloc(b->items, (size_t)cap * sizeof(Piece));
    }
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->items = items;
    b->cap = cap;
    return 0;
}

static inline int
builder_grow_length(Builder *b, Py_ssize_t len)
{
    if (len > PY_SSIZE_T_MAX - b->length) {
        PyErr_SetString(PyExc_OverflowError, "string to sign too long");
        return -1;
    }
    b->length += len;
    return 0;
}

/* Append an exact str (a new reference is taken). */
static inline int
builder_add(Builder *b, PyObject *s)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    if (len == 0) {
        return 0;
    }
    if (builder_reserve_one(b) < 0 || builder_grow_length(b, len) < 0) {
        return -1;
    }
    Py_INCREF(s);
    b->items[b->n].obj = s;
    b->items[b->n].ch = 0;
    b->n++;
    Py_UCS4 maxchar = PyUnicode_MAX_CHAR_VALUE(s);
    if (maxchar > b->maxchar) {
        b->maxchar = maxchar;
    }
    return 0;
}

/* Append an exact str and drop the caller's reference to it (NULL: an error is set). */
static int
builder_add_steal(Builder *b, PyObject *s)
{
    if (s == NULL) {
        return -1;
    }
    int rc = builder_add(b, s);
    Py_DECREF(s);
    return rc;
}

static inline int
builder_add_char(Builder *b, Py_UCS4 ch)
{
    if (builder_reserve_one(b) < 0 || builder_grow_length(b, 1) < 0) {
        return -1;
    }
    b->items[b->n].obj = NULL;
    b->items[b->n].ch = ch;
    b->n++;
    if (ch > b->maxchar) {
        b->maxchar = ch;
    }
    return 0;
}

/* Join the pieces into a new str (the builder is left as it was; free it after). */
static PyObject *
builder_finish(Builder *b)
{
    /* Strings are stored in their narrowest kind, so the pieces' kind maxima give the
     * result's true kind. */
    Py_UCS4 maxchar = b->maxchar <= 127 ? 127 : b->maxchar <= 255 ? 255
                      : b->maxchar <= 65535 ? 65535 : 1114111;
    PyObject *result = PyUnicode_New(b->length, maxchar);
    if (result == NULL) {
        return NULL;
    }
    int kind = PyUnicode_KIND(result);
    void *data = PyUnicode_DATA(result);
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = 0; i < b->n; i++) {
        PyObject *obj = b->items[i].obj;
        if (obj == NULL) {
            PyUnicode_WRITE(kind, data, pos, b->items[i].ch);
            pos++;
            continue;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(obj);
        if (PyUnicode_KIND(obj) == kind) {
            memcpy((char *)data + pos * kind, PyUnicode_DATA(obj), (size_t)(len * kind));
        }
        else if (PyUnicode_CopyCharacters(result, pos, obj, 0, len) < 0) {
            Py_DECREF(result);
            return NULL;
        }
        pos += len;
    }
    assert(pos == b->length);
    return result;
}

/* -- case mapping ---------------------------------------------------------------------------- */

/* str.lower()/str.upper() of an exact str: ASCII inline (letters from..to shifted by delta),
 * other strings through the str method (method_name). */
static PyObject *
ascii_case(PyObject *s, Py_UCS1 from, Py_UCS1 to, int delta, PyObject *method_name)
{
    if (!PyUnicode_IS_ASCII(s)) {
        return PyObject_CallMethodNoArgs(s, method_name);
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const Py_UCS1 *d = PyUnicode_1BYTE_DATA(s);
    Py_ssize_t i = 0;
    while (i < n && !(d[i] >= from && d[i] <= to)) {
        i++;
    }
    if (i == n) {
        Py_INCREF(s);
        return s;
    }
    PyObject *r = PyUnicode_New(n, 127);
    if (r == NULL) {
        return NULL;
    }
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    memcpy(o, d, (size_t)i);
    for (; i < n; i++) {
        Py_UCS1 c = d[i];
        o[i] = (c >= from && c <= to) ? (Py_UCS1)(c + delta) : c;
    }
    return r;
}

/* str.lower() of an exact str. */
static PyObject *
lower(PyObject *s)
{
    return ascii_case(s, 'A', 'Z', 32, str_lower);
}

/* Header names repeat from request to request (a handful of spellings per client), so the
 * lower-case form of a name that has upper case is kept: a lookup in this bounded dict costs
 * less than a new string and its hash. Names already in lower case (what ASGI servers pass)
 * skip it. Random names cannot grow it past NAME_CACHE_MAX: it is cleared when full. */
#define NAME_CACHE_MAX 256
#define NAME_CACHEABLE 64
static PyObject *name_cache; /* dict: header name -> name.lower() */

static PyObject *
lower_name(PyObject *name)
{
    if (PyUnicode_IS_ASCII(name)) {
        const Py_UCS1 *d = PyUnicode_1BYTE_DATA(name);
        Py_ssize_t i = 0, n = PyUnicode_GET_LENGTH(name);
        while (i < n && !(d[i] >= 'A' && d[i] <= 'Z')) {
            i++;
        }
        if (i == n) {
            return Py_NewRef(name);
        }
    }
    int cacheable = PyUnicode_GET_LENGTH(name) <= NAME_CACHEABLE;
    if (cacheable) {
        PyObject *cached = PyDict_GetItemWithError(name_cache, name);
        if (cached != NULL) {
            return Py_NewRef(cached);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    PyObject *low = lower(name);
    if (low == NULL || !cacheable) {
        return low;
    }
    /* Interned, a cached name is the very object the C lookups ("x-ca-key", ...) and Python
     * literals use, so dict lookups match it by identity. */
    PyUnicode_InternInPlace(&low);
    if (PyDict_GET_SIZE(name_cache) >= NAME_CACHE_MAX) {
        PyDict_Clear(name_cache);
    }
    if (PyDict_SetItem(name_cache, name, low) < 0) {
        Py_DECREF(low);
        return NULL;
    }
    return low;
}

/* str.upper() of an exact str. */
static PyObject *
upper(PyObject *s)
{
    return ascii_case(s, 'a', 'z', -32, str_upper);
}

/* -- header_map ------------------------------------------------------------------------------ */

/* An empty dict with room for n items without resizing, where CPython offers it. */
static PyObject *
new_dict(Py_ssize_t n)
{
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_NewPresized(n);
#else
    (void)n;
    return PyDict_New();
#endif
}

static int
add_header(PyObject *result, PyObject *name, PyObject *value)
{
    if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(value)) {
        return 0; /* not a (str, str) pair: ignored */
    }
    PyObject *key = lower_name(name);
    if (key == NULL) {
        return -1;
    }
    PyObject *kept = PyDict_SetDefault(result, key, value); /* the first value wins */
    Py_DECREF(key);
    return kept == NULL ? -1 : 0;
}

PyDoc_STRVAR(header_map_doc,
"header_map(headers) -> dict\n\n"
"Map lower-cased header names to their first value (authledger.gateway.signing.header_map). A list or\n"
"tuple of items (only exact (str, str) tuples count) or a dict is mapped here; other types\n"
"go to the reference.");

static PyObject *
header_map_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "header_map(headers) takes 1 argument");
        return NULL;
    }
    PyObject *headers = args[0];
    if (PyDict_CheckExact(headers)) {
        PyObject *result = PyDict_New();
        if (result == NULL) {
            return NULL;
        }
        Py_ssize_t pos = 0;
        PyObject *name, *value;
        /* add_header runs no Python code, so `headers` cannot change under PyDict_Next. */
        while (PyDict_Next(headers, &pos, &name, &value)) {
            if (add_header(result, name, value) < 0) {
                Py_DECREF(result);
                return NULL;
            }
        }
        return result;
    }
    if (!PyList_CheckExact(headers) && !PyTuple_CheckExact(headers)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *result = new_dict(PySequence_Fast_GET_SIZE(headers));
    if (result == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(headers); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(headers, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            continue;
        }
        Py_INCREF(item);
        int rc = add_header(result, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

/* -- parameters ------------------------------------------------------------------------------ */

static int
hex_value(Py_UCS4 c)
{
    if (c >= '0' && c <= '9') {
        return (int)(c - '0');
    }
    if (c >= 'A' && c <= 'F') {
        return (int)(c - 'A' + 10);
    }
    if (c >= 'a' && c <= 'f') {
        return (int)(c - 'a' + 10);
    }
    return -1;
}

/* Decode the ASCII run [start, end) of a str: '+' -> ' ', valid %XX -> that byte, other
 * characters as they are; the bytes are then decoded as UTF-8 with surrogateescape
 * (urllib.parse.unquote_to_bytes(run).decode("utf-8", "surrogateescape")). */
static PyObject *
decode_ascii_run(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    char stack[256];
    Py_ssize_t n = end - start;
    char *buf = stack;
    if (n > (Py_ssize_t)sizeof(stack)) {
        buf = PyMem_Malloc((size_t)n);
        if (buf == NULL) {
            return PyErr_NoMemory();
        }
    }
    Py_ssize_t out = 0;
    Py_ssize_t i = start;
    while (i < end) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '+') {
            buf[out++] = ' ';
            i++;
            continue;
        }
        if (c == '%' && end - i > 2) {
            int high = hex_value(PyUnicode_READ(kind, data, i + 1));
            int low = high < 0 ? -1 : hex_value(PyUnicode_READ(kind, data, i + 2));
            if (low >= 0) {
                buf[out++] = (char)(high * 16 + low);
                i += 3;
                continue;
            }
        }
        buf[out++] = (char)c; /* c < 128: the run is ASCII */
        i++;
    }
    /* gcc cannot see that `out` counts written bytes: say the buffer is initialised. */
    PyObject *result = out == 0 ? Py_NewRef(empty_str)
                                : PyUnicode_DecodeUTF8(buf, out, "surrogateescape");
    if (buf != stack) {
        PyMem_Free(buf);
    }
    return result;
}

/* One query/form component [start, end) of `raw`, with '+' and %XX decoded like
 * authledger.gateway.signing._decode (urllib.parse.unquote: only ASCII runs are percent-decoded). */
static PyObject *
decode_component(PyObject *raw, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t i;
    int escaped = 0, ascii = 1;
    for (i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '%' || c == '+') {
            escaped = 1;
        }
        else if (c > 127) {
            ascii = 0;
        }
    }
    if (!escaped) {
        return PyUnicode_Substring(raw, start, end);
    }
    if (ascii) {
        return decode_ascii_run(kind, data, start, end);
    }
    Builder b;
    builder_init(&b);
    i = start;
    while (i < end) {
        Py_ssize_t j = i;
        PyObject *part;
        if (PyUnicode_READ(kind, data, i) <= 127) {
            while (j < end && PyUnicode_READ(kind, data, j) <= 127) {
                j++;
            }
            part = decode_ascii_run(kind, data, i, j);
        }
        else {
            while (j < end && PyUnicode_READ(kind, data, j) > 127) {
                j++;
            }
            part = PyUnicode_Substring(raw, i, j);
        }
        if (builder_add_steal(&b, part) < 0) {
            builder_free(&b);
            return NULL;
        }
        i = j;
    }
    PyObject *result = builder_finish(&b);
    builder_free(&b);
    return result;
}

/* Parameters as parsed, in order: (key, value, position) with owned references. */
typedef struct {
    PyObject *key, *value;
    Py_ssize_t order;
} Pair;

#define INLINE_PAIRS 16

typedef struct {
    Pair *items;
    Py_ssize_t n, cap;
    Pair inline_items[INLINE_PAIRS];
} Pairs;

static void
pairs_init(Pairs *p)
{
    p->items = p->inline_items;
    p->n = 0;
    p->cap = INLINE_PAIRS;
}

static void
pairs_free(Pairs *p)
{
    for (Py_ssize_t i = 0; i < p->n; i++) {
        Py_DECREF(p->items[i].key);
        Py_DECREF(p->items[i].value);
    }
    if (p->items != p->inline_items) {
        PyMem_Free(p->items);
    }
    p->items = p->inline_items;
    p->n = 0;
}

/* Append (key, value), taking over both references (also on failure). */
static int
pairs_append_steal(Pairs *p, PyObject *key, PyObject *value)
{
    if (p->n == p->cap) {
        Pair *items = NULL;
        if (p->cap <= PY_SSIZE_T_MAX / 2 / (Py_ssize_t)sizeof(Pair)) {
            Py_ssize_t cap = p->cap * 2;
            if (p->items == p->inline_items) {
                items = PyMem_Malloc((size_t)cap * sizeof(Pair));
                if (items != NULL) {
                    memcpy(items, p->items, (size_t)p->n * sizeof(Pair));
                }
            }
            else {
                items = PyMem_Realloc(p->items, (size_t)cap * sizeof(Pair));
            }
            if (items != NULL) {
                p->items = items;
                p->cap = cap;
            }
        }
        if (items == NULL) {
            Py_DECREF(key);
            Py_DECREF(value);
            PyErr_NoMemory();
            return -1;
        }
    }
    p->items[p->n].key = key;
    p->items[p->n].value = value;
    p->items[p->n].order = p->n;
    p->n++;
    return 0;
}

/* Append the parameters of `raw` (an exact str, a=b&c): split on '&', empty pieces skipped,
 * split at the first '=' (none: the empty value), both sides decoded. */
static int
parse_pairs(Pairs *p, PyObject *raw)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    int kind = PyUnicode_KIND(raw);
    const void *data = PyUnicode_DATA(raw);
    Py_ssize_t start = 0;
    while (start < n) {
        Py_ssize_t end = PyUnicode_FindChar(raw, '&', start, n, 1);
        if (end == -2) {
            return -1;
        }
        if (end < 0) {
            end = n;
        }
        if (end > start) {
            Py_ssize_t eq = PyUnicode_FindChar(raw, '=', start, end, 1);
            if (eq == -2) {
                return -1;
            }
            PyObject *key = decode_component(raw, kind, data, start, eq < 0 ? end : eq);
            if (key == NULL) {
                return -1;
            }
            PyObject *value = eq < 0 ? Py_NewRef(empty_str)
                                     : decode_component(raw, kind, data, eq + 1, end);
            if (value == NULL) {
                Py_DECREF(key);
                return -1;
            }
            if (pairs_append_steal(p, key, value) < 0) {
                return -1;
            }
        }
        start = end + 1;
    }
    return 0;
}

/* Parse the form body unless it is None, then the query: in this order, the first pair of a
 * key is the one that counts (a repeated key's first value; a form key shadows a query key,
 * as the vendor's clients sign it). */
static int
parse_query_and_form(Pairs *p, PyObject *query, PyObject *form)
{
    if (form != Py_None && parse_pairs(p, form) < 0) {
        return -1;
    }
    return parse_pairs(p, query);
}

/* Order pairs by key (code point order), then by position. Exact str never fail to compare. */
static int
pair_compare(const void *a, const void *b)
{
    const Pair *x = a, *y = b;
    int c = PyUnicode_Compare(x->key, y->key);
    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sort by key and keep only the first pair (by position) of each key. */
static void
pairs_sort_unique(Pairs *p)
{
    Pair *items = p->items;
    if (p->n <= 16) {
        for (Py_ssize_t i = 1; i < p->n; i++) {
            Pair item = items[i];
            Py_ssize_t j = i;
            while (j > 0 && pair_compare(&items[j - 1], &item) > 0) {
                items[j] = items[j - 1];
                j--;
            }
            items[j] = item;
        }
    }
    else {
        qsort(items, (size_t)p->n, sizeof(Pair), pair_compare);
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < p->n; i++) {
        if (kept > 0 && PyUnicode_Compare(items[kept - 1].key, items[i].key) == 0) {
            Py_DECREF(items[i].key);
            Py_DECREF(items[i].value);
            continue;
        }
        items[kept++] = items[i];
    }
    p->n = kept;
}

/* The pairs of a dict whose keys and values are all exact str: 1; otherwise 0 (out of the
 * fast domain); -1 on error. */
static int
pairs_from_dict(Pairs *p, PyObject *params)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(params, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyUnicode_CheckExact(value)) {
            return 0;
        }
        if (pairs_append_steal(p, Py_NewRef(key), Py_NewRef(value)) < 0) {
            return -1;
        }
    }
    return 1;
}

PyDoc_STRVAR(parameters_doc,
"parameters(query, form) -> dict\n\n"
"The decoded parameters of ``query`` and, unless ``form`` is None, of the form body text\n"
"``form``; a form key shadows the same query key (authledger.gateway.signing.parameters).");

static PyObject *
parameters_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "parameters(query, form) takes 2 arguments");
        return NULL;
    }
    PyObject *query = args[0], *form = args[1];
    if (!PyUnicode_CheckExact(query) || (form != Py_None && !PyUnicode_CheckExact(form))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    Pairs p;
    pairs_init(&p);
    PyObject *result = NULL;
    if (parse_query_and_form(&p, query, form) == 0) {
        result = PyDict_New();
        for (Py_ssize_t i = 0; result != NULL && i < p.n; i++) {
            if (PyDict_SetDefault(result, p.items[i].key, p.items[i].value) == NULL) {
                Py_CLEAR(result);
            }
        }
    }
    pairs_free(&p);
    return result;
}

/* -- X-Ca-Signature-Headers ------------------------------------------------------------------ */

/* Parse a listed value (exact str) into sorted ((spelling, lower), ...) (new reference). */
static PyObject *
parse_signed_names(PyObject *listed, int intern_names)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(listed);
    int kind = PyUnicode_KIND(listed);
    const void *data = PyUnicode_DATA(listed);
    PyObject *names = PyList_New(0);
    if (names == NULL) {
        return NULL;
    }
    Py_ssize_t start = 0;
    while (start <= n) {
        Py_ssize_t end = PyUnicode_FindChar(listed, ',', start, n, 1);
        if (end == -2) {
            goto error;
        }
        if (end < 0) {
            end = n;
        }
        Py_ssize_t s = start, e = end;
        while (s < e && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, s))) {
            s++;
        }
        while (e > s && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, e - 1))) {
            e--;
        }
        start = end + 1;
        if (s == e) {
            continue;
        }
        PyObject *name = PyUnicode_Substring(listed, s, e);
        if (name == NULL) {
            goto error;
        }
        PyObject *low = lower(name);
        if (low == NULL) {
            Py_DECREF(name);
            goto error;
        }
        if (intern_names) {
            PyUnicode_InternInPlace(&low); /* see lower_name */
        }
        int skip = PySet_Contains(excluded, low);
        int rc = skip;
        if (skip == 0) {
            PyObject *pair = PyTuple_Pack(2, name, low);
            rc = pair == NULL ? -1 : PyList_Append(names, pair);
            Py_XDECREF(pair);
        }
        Py_DECREF(name);
        Py_DECREF(low);
        if (rc < 0) {
            goto error;
        }
    }
    if (PyList_Sort(names) < 0) {
        goto error;
    }
    PyObject *result = PyList_AsTuple(names);
    Py_DECREF(names);
    return result;
error:
    Py_DECREF(names);
    return NULL;
}

/* The parsed names of a listed value, through a bounded cache (new reference). */
static PyObject *
signed_names(PyObject *listed)
{
    int cacheable = PyUnicode_GET_LENGTH(listed) <= NAMES_CACHEABLE;
    if (cacheable) {
        PyObject *cached = PyDict_GetItemWithError(names_cache, listed);
        if (cached != NULL) {
            Py_INCREF(cached);
            return cached;
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    PyObject *names = parse_signed_names(listed, cacheable);
    if (names == NULL || !cacheable) {
        return names;
    }
    if (PyDict_GET_SIZE(names_cache) >= NAMES_CACHE_MAX) {
        PyDict_Clear(names_cache);
    }
    if (PyDict_SetItem(names_cache, listed, names) < 0) {
        Py_DECREF(names);
        return NULL;
    }
    return names;
}

PyDoc_STRVAR(signed_header_names_doc,
"signed_header_names(listed) -> tuple\n\n"
"The names a Headers part covers, as (spelling, lower-case), sorted by spelling\n"
"(authledger.gateway.signing.signed_header_names).");

static PyObject *
signed_header_names_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "signed_header_names(listed) takes 1 argument");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[0])) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return signed_names(args[0]);
}

/* -- StringToSign ------------------------------------------------------------------------------ */

/* 1: done, 0: out of the fast domain (NotImplemented), -1: error. */
#define DONE 1
#define OUT_OF_DOMAIN 0

/* Append hmap[key] (absent: nothing); a non-str value is out of the fast domain. */
static int
add_header_value(Builder *b, PyObject *hmap, PyObject *key)
{
    PyObject *value = PyDict_GetItemWithError(hmap, key);
    if (value == NULL) {
        return PyErr_Occurred() ? -1 : DONE;
    }
    if (!PyUnicode_CheckExact(value)) {
        return OUT_OF_DOMAIN;
    }
    return builder_add(b, value) < 0 ? -1 : DONE;
}

/* Append StringToSign's head: the five fixed lines, then the Headers lines. */
static int
add_head(Builder *b, PyObject *method, PyObject *hmap)
{
    PyObject *const fixed[4] = {key_accept, key_content_md5, key_content_type, key_date};
    if (builder_add_steal(b, upper(method)) < 0 || builder_add_char(b, '\n') < 0) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        int rc = add_header_value(b, hmap, fixed[i]);
        if (rc != DONE) {
            return rc;
        }
        if (builder_add_char(b, '\n') < 0) {
            return -1;
        }
    }
    PyObject *listed = PyDict_GetItemWithError(hmap, key_signature_headers);
    if (listed == NULL) {
        return PyErr_Occurred() ? -1 : DONE;
    }
    if (!PyUnicode_CheckExact(listed)) {
        return OUT_OF_DOMAIN;
    }
    if (PyUnicode_GET_LENGTH(listed) == 0) {
        return DONE;
    }
    PyObject *names = signed_names(listed);
    if (names == NULL) {
        return -1;
    }
    int rc = DONE;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *pair = PyTuple_GET_ITEM(names, i);
        if (builder_add(b, PyTuple_GET_ITEM(pair, 0)) < 0 || builder_add_char(b, ':') < 0) {
            rc = -1;
            break;
        }
        rc = add_header_value(b, hmap, PyTuple_GET_ITEM(pair, 1));
        if (rc != DONE) {
            break;
        }
        if (builder_add_char(b, '\n') < 0) {
            rc = -1;
            break;
        }
    }
    Py_DECREF(names);
    return rc;
}

/* Append PathAndParameters: path, then "?" and the key=value pairs (sorted, unique). */
static int
add_path_and_parameters(Builder *b, PyObject *path, const Pairs *p, int equals, int *has_empty)
{
    if (builder_add(b, path) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < p->n; i++) {
        PyObject *value = p->items[i].value;
        if (builder_add_char(b, i == 0 ? '?' : '&') < 0 || builder_add(b, p->items[i].key) < 0) {
            return -1;
        }
        if (PyUnicode_GET_LENGTH(value) == 0) {
            *has_empty = 1;
        }
        if (equals || PyUnicode_GET_LENGTH(value) > 0) {
            if (builder_add_char(b, '=') < 0 || builder_add(b, value) < 0) {
                return -1;
            }
        }
    }
    return DONE;
}

/* (bare, equals or None) for exact-str method and path, an exact dict hmap and sorted,
 * unique parameter pairs; NotImplemented when hmap holds a non-str value that counts. */
static PyObject *
both_strings(PyObject *method, PyObject *hmap, PyObject *path, const Pairs *p)
{
    int has_empty = 0;
    Builder b;
    builder_init(&b);
    PyObject *bare = NULL, *equals = NULL, *result = NULL;
    int rc = add_head(&b, method, hmap);
    Py_ssize_t head_pieces = b.n, head_length = b.length;
    Py_UCS4 head_maxchar = b.maxchar;
    if (rc == DONE) {
        rc = add_path_and_parameters(&b, path, p, 0, &has_empty);
    }
    if (rc == DONE) {
        bare = builder_finish(&b);
        rc = bare == NULL ? -1 : DONE;
    }
    if (rc == DONE && has_empty) {
        /* Reuse the head's pieces; only PathAndParameters differs. */
        for (Py_ssize_t i = head_pieces; i < b.n; i++) {
            Py_XDECREF(b.items[i].obj);
        }
        b.n = head_pieces;
        b.length = head_length;
        b.maxchar = head_maxchar;
        rc = add_path_and_parameters(&b, path, p, 1, &has_empty);
        if (rc == DONE) {
            equals = builder_finish(&b);
            rc = equals == NULL ? -1 : DONE;
        }
    }
    if (rc == DONE) {
        result = PyTuple_Pack(2, bare, equals != NULL ? equals : Py_None);
    }
    else if (rc == OUT_OF_DOMAIN) {
        result = Py_NewRef(Py_NotImplemented);
    }
    Py_XDECREF(bare);
    Py_XDECREF(equals);
    builder_free(&b);
    return result;
}

PyDoc_STRVAR(strings_to_sign_doc,
"strings_to_sign(method, hmap, path, params) -> (str, str | None)\n\n"
"StringToSign with empty values spelled 'key', and spelled 'key=' when some parameter is\n"
"empty, else None (authledger.gateway.signing.strings_to_sign).");

static PyObject *
strings_to_sign_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "strings_to_sign(method, hmap, path, params) takes 4 arguments");
        return NULL;
    }
    PyObject *method = args[0], *hmap = args[1], *path = args[2], *params = args[3];
    if (!PyUnicode_CheckExact(method) || !PyDict_CheckExact(hmap) || !PyUnicode_CheckExact(path)
        || !PyDict_CheckExact(params)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    Pairs p;
    pairs_init(&p);
    int rc = pairs_from_dict(&p, params);
    PyObject *result = NULL;
    if (rc == 0) {
        result = Py_NewRef(Py_NotImplemented);
    }
    else if (rc > 0) {
        pairs_sort_unique(&p);
        result = both_strings(method, hmap, path, &p);
    }
    pairs_free(&p);
    return result;
}

PyDoc_STRVAR(request_strings_doc,
"request_strings(method, hmap, path, query, form) -> (str, str | None)\n\n"
"strings_to_sign(method, hmap, path, parameters(query, form)) in one call\n"
"(authledger.gateway.signing.request_strings).");

static PyObject *
request_strings_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "request_strings(method, hmap, path, query, form) takes 5 arguments");
        return NULL;
    }
    PyObject *method = args[0], *hmap = args[1], *path = args[2];
    if (!PyUnicode_CheckExact(method) || !PyDict_CheckExact(hmap) || !PyUnicode_CheckExact(path)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *query = args[3], *form = args[4];
    if (!PyUnicode_CheckExact(query) || (form != Py_None && !PyUnicode_CheckExact(form))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    Pairs p;
    pairs_init(&p);
    PyObject *result = NULL;
    if (parse_query_and_form(&p, query, form) == 0) {
        pairs_sort_unique(&p);
        result = both_strings(method, hmap, path, &p);
    }
    pairs_free(&p);
    return result;
}

/* -- what a digest check reads from the headers --------------------------------------------- */

enum { F_KEY, F_SIGNATURE, F_METHOD, F_METHOD_OLD, F_TIMESTAMP, F_MD5, F_STAGE, F_NONCE, N_FIELDS };
static const char *const FIELD_NAMES[N_FIELDS] = {
    "x-ca-key", "x-ca-signature", "x-ca-signature-method", "x-ca-signaturemethod",
    "x-ca-timestamp", "content-md5", "x-ca-stage", "x-ca-nonce",
};
static PyObject *field_keys[N_FIELDS];
static PyObject *default_method, *default_stage;
#define MAX_TIMESTAMP_DIGITS 15 /* authledger.gateway.signing.MAX_TIMESTAMP_DIGITS */

static int
non_empty(PyObject *value)
{
    return value != NULL && PyUnicode_GET_LENGTH(value) > 0;
}

/* X-Ca-Timestamp as epoch seconds when it is 1 to 15 ASCII digits, else None. */
static PyObject *
timestamp_seconds(PyObject *millis)
{
    if (!non_empty(millis) || !PyUnicode_IS_ASCII(millis)
        || PyUnicode_GET_LENGTH(millis) > MAX_TIMESTAMP_DIGITS) {
        Py_RETURN_NONE;
    }
    const Py_UCS1 *d = PyUnicode_1BYTE_DATA(millis);
    long long value = 0; /* at most 15 digits: exact in a double, like int(millis) / 1000.0 */
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(millis); i++) {
        if (d[i] < '0' || d[i] > '9') {
            Py_RETURN_NONE;
        }
        value = value * 10 + (d[i] - '0');
    }
    return PyFloat_FromDouble((double)value / 1000.0);
}

PyDoc_STRVAR(digest_fields_doc,
"digest_fields(hmap) -> (key, signature, method, seconds, content_md5, stage, nonce)\n\n"
"What a digest check reads from a lower-cased header map (authledger.gateway.signing.digest_fields).");

static PyObject *
digest_fields_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "digest_fields(hmap) takes 1 argument");
        return NULL;
    }
    PyObject *hmap = args[0];
    if (!PyDict_CheckExact(hmap)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *v[N_FIELDS] = {NULL};
    PyObject *result = NULL;
    int i;
    for (i = 0; i < N_FIELDS; i++) {
        PyObject *value = PyDict_GetItemWithError(hmap, field_keys[i]);
        if (value == NULL && PyErr_Occurred()) {
            goto done;
        }
        if (value != NULL && !PyUnicode_CheckExact(value)) {
            result = Py_NewRef(Py_NotImplemented);
            goto done;
        }
        v[i] = Py_XNewRef(value); /* owned: a later lookup may run code (odd keys' __eq__) */
    }
    PyObject *seconds = timestamp_seconds(v[F_TIMESTAMP]);
    if (seconds == NULL) {
        goto done;
    }
    PyObject *method = non_empty(v[F_METHOD]) ? v[F_METHOD]
                       : non_empty(v[F_METHOD_OLD]) ? v[F_METHOD_OLD] : default_method;
    PyObject *stage = non_empty(v[F_STAGE]) ? v[F_STAGE] : default_stage;
#define OR_NONE(x) ((x) != NULL ? (x) : Py_None)
    result = PyTuple_Pack(7, OR_NONE(v[F_KEY]), OR_NONE(v[F_SIGNATURE]), method, seconds,
                          OR_NONE(v[F_MD5]), stage, OR_NONE(v[F_NONCE]));
#undef OR_NONE
    Py_DECREF(seconds);
done:
    for (i = 0; i < N_FIELDS; i++) {
        Py_XDECREF(v[i]);
    }
    return result;
}

/* -- the signature ------------------------------------------------------------------------- */

static PyObject *str_copy, *str_update, *str_digest;

/* OpenSSL's hash type (_hashlib.HASH, what hashlib.new returns) and its copy, update and
 * digest method descriptors, looked up once: calling them saves a method lookup per call.
 * Other state types take the generic path. hash_type is Py_None when _hashlib is missing. */
static PyObject *hash_type, *hash_copy, *hash_update, *hash_digest;

static int
load_hash_type(void)
{
    PyObject *module = PyImport_ImportModule("_hashlib");
    if (module == NULL) {
        PyErr_Clear(); /* no OpenSSL: every state takes the generic path */
        hash_type = Py_NewRef(Py_None);
        return 0;
    }
    PyObject *type = PyObject_GetAttrString(module, "HASH");
    Py_DECREF(module);
    if (type == NULL || !PyType_Check(type)) {
        Py_XDECREF(type);
        PyErr_Clear();
        hash_type = Py_NewRef(Py_None);
        return 0;
    }
    hash_copy = PyObject_GetAttr(type, str_copy);
    hash_update = PyObject_GetAttr(type, str_update);
    hash_digest = PyObject_GetAttr(type, str_digest);
    if (hash_copy == NULL || hash_update == NULL || hash_digest == NULL) {
        Py_CLEAR(hash_copy);
        Py_CLEAR(hash_update);
        Py_CLEAR(hash_digest);
        Py_DECREF(type);
        return -1;
    }
    hash_type = type;
    return 0;
}

/* method(obj, *rest): through the cached descriptor for OpenSSL hashes, else by name. */
static PyObject *
call_hash_method(PyObject *obj, PyObject *descriptor, PyObject *name, PyObject *arg)
{
    PyObject *args[2] = {obj, arg};
    if ((PyObject *)Py_TYPE(obj) == hash_type) {
        return PyObject_Vectorcall(descriptor, args, arg == NULL ? 1 : 2, NULL);
    }
    return PyObject_VectorcallMethod(name, args, arg == NULL ? 1 : 2, NULL);
}

/* state.copy(), .update(data), .digest() (new reference to the digest, or NULL). */
static PyObject *
digest_after(PyObject *state, PyObject *data)
{
    if (hash_type == NULL && load_hash_type() < 0) {
        return NULL;
    }
    PyObject *hash = call_hash_method(state, hash_copy, str_copy, NULL);
    if (hash == NULL) {
        return NULL;
    }
    PyObject *none = call_hash_method(hash, hash_update, str_update, data);
    PyObject *digest = none == NULL ? NULL : call_hash_method(hash, hash_digest, str_digest, NULL);
    Py_XDECREF(none);
    Py_DECREF(hash);
    if (digest != NULL && !PyBytes_Check(digest)) {
        PyErr_SetString(PyExc_TypeError, "digest() did not return bytes");
        Py_CLEAR(digest);
    }
    return digest;
}

/* Standard Base64 with padding, no newline (binascii.b2a_base64(data, newline=False)). */
static PyObject *
base64_bytes(const unsigned char *data, Py_ssize_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > (PY_SSIZE_T_MAX / 4) * 3 - 2) {
        return PyErr_NoMemory();
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, 4 * ((n + 2) / 3));
    if (result == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(result);
    Py_ssize_t i = 0;
    for (; n - i >= 3; i += 3) {
        unsigned long v = (unsigned long)data[i] << 16 | (unsigned long)data[i + 1] << 8 | data[i + 2];
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = alphabet[v >> 6 & 63];
        *out++ = alphabet[v & 63];
    }
    if (n - i > 0) {
        unsigned long v = (unsigned long)data[i] << 16;
        if (n - i == 2) {
            v |= (unsigned long)data[i + 1] << 8;
        }
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = n - i == 2 ? alphabet[v >> 6 & 63] : '=';
        *out++ = '=';
    }
    return result;
}

PyDoc_STRVAR(signature_doc,
"signature(states, string_to_sign) -> bytes\n\n"
"Base64(HMAC(StringToSign)) from keyed_states() (authledger.gateway.signing.signature).");

static PyObject *
signature_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "signature(states, string_to_sign) takes 2 arguments");
        return NULL;
    }
    PyObject *states = args[0], *sts = args[1];
    if (!PyTuple_CheckExact(states) || PyTuple_GET_SIZE(states) != 2 || !PyUnicode_CheckExact(sts)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *message = PyUnicode_AsEncodedString(sts, "utf-8", "surrogatepass");
    if (message == NULL) {
        return NULL;
    }
    /* The tuple is the caller's and immutable: its items outlive these calls. */
    PyObject *inner = digest_after(PyTuple_GET_ITEM(states, 0), message);
    Py_DECREF(message);
    if (inner == NULL) {
        return NULL;
    }
    PyObject *outer = digest_after(PyTuple_GET_ITEM(states, 1), inner);
    Py_DECREF(inner);
    if (outer == NULL) {
        return NULL;
    }
    PyObject *result =
        base64_bytes((const unsigned char *)PyBytes_AS_STRING(outer), PyBytes_GET_SIZE(outer));
    Py_DECREF(outer);
    return result;
}

PyDoc_STRVAR(signature_matches_doc,
"signature_matches(states, string_to_sign, provided) -> bool\n\n"
"Whether provided is the signature() of StringToSign, compared in constant time\n"
"(authledger.gateway.signing.signature_matches).");

static PyObject *
signature_matches_impl(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "signature_matches(states, string_to_sign, provided) takes 3 arguments");
        return NULL;
    }
    PyObject *provided = args[2];
    if (!PyUnicode_CheckExact(provided)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *expected = signature_impl(args, 2);
    if (expected == NULL || expected == Py_NotImplemented) {
        return expected;
    }
    /* A signature is ASCII: a provided value with other characters (whose UTF-8 bytes are
     * not ASCII) cannot match. Otherwise compare every byte, whatever differs (as
     * hmac.compare_digest): the time depends on the lengths only. */
    int equal = PyUnicode_IS_ASCII(provided)
                && PyUnicode_GET_LENGTH(provided) == PyBytes_GET_SIZE(expected);
    if (equal) {
        const unsigned char *a = (const unsigned char *)PyBytes_AS_STRING(expected);
        const Py_UCS1 *b = PyUnicode_1BYTE_DATA(provided);
        unsigned char diff = 0;
        for (Py_ssize_t i = 0; i < PyBytes_GET_SIZE(expected); i++) {
            diff |= (unsigned char)(a[i] ^ b[i]);
        }
        equal = diff == 0;
    }
    Py_DECREF(expected);
    return PyBool_FromLong(equal);
}

/* -- the reference, for inputs outside the fast domain --------------------------------------- */

static PyObject *signing_module; /* authledger.gateway.signing, imported on first use */

/* Call authledger.gateway.signing.<name>(*args); looked up per call, so tests can watch it. */
static PyObject *
call_reference(const char *name, PyObject *const *args, Py_ssize_t nargs)
{
    if (signing_module == NULL) {
        signing_module = PyImport_ImportModule("authledger.gateway.signing");
        if (signing_module == NULL) {
            return NULL;
        }
    }
    PyObject *function = PyObject_GetAttrString(signing_module, name);
    if (function == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(function, args, (size_t)nargs, NULL);
    Py_DECREF(function);
    return result;
}

/* name(*args): name_impl, or authledger.gateway.signing.name when name_impl says NotImplemented. */
#define WITH_REFERENCE(name)                                                                  \
    static PyObject *name(PyObject *module, PyObject *const *args, Py_ssize_t nargs)         \
    {                                                                                         \
        PyObject *result = name##_impl(args, nargs);                                          \
        if (result != Py_NotImplemented) {                                                    \
            return result;                                                                    \
        }                                                                                     \
        Py_DECREF(result);                                                                    \
        return call_reference(#name, args, nargs);                                            \
    }

WITH_REFERENCE(header_map)
WITH_REFERENCE(parameters)
WITH_REFERENCE(signed_header_names)
WITH_REFERENCE(strings_to_sign)
WITH_REFERENCE(request_strings)
WITH_REFERENCE(digest_fields)
WITH_REFERENCE(signature)
WITH_REFERENCE(signature_matches)

/* -- module ---------------------------------------------------------------------------------- */

#define FASTCALL(name) {#name, (PyCFunction)(void (*)(void))name, METH_FASTCALL, name##_doc}

static PyMethodDef digest_methods[] = {
    FASTCALL(header_map),
    FASTCALL(parameters),
    FASTCALL(signed_header_names),
    FASTCALL(strings_to_sign),
    FASTCALL(request_strings),
    FASTCALL(digest_fields),
    FASTCALL(signature),
    FASTCALL(signature_matches),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef digest_module = {
    PyModuleDef_HEAD_INIT,
    "authledger.gateway._digest",
    "C accelerator for authledger.gateway.signing's canonicalisation (see authledger.gateway.accelerator).",
    -1,
    digest_methods,
};

static PyObject *
intern(const char *text)
{
    return PyUnicode_InternFromString(text);
}

PyMODINIT_FUNC
PyInit__digest(void)
{
    if (excluded == NULL) {
        PyObject *names = PyTuple_New(6);
        if (names == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < 6; i++) {
            PyObject *name = intern(EXCLUDED_NAMES[i]);
            if (name == NULL) {
                Py_DECREF(names);
                return NULL;
            }
            PyTuple_SET_ITEM(names, i, name);
        }
        excluded = PyFrozenSet_New(names);
        Py_DECREF(names);
        names_cache = PyDict_New();
        name_cache = PyDict_New();
        if (name_cache == NULL) {
            return NULL;
        }
        str_lower = intern("lower");
        str_upper = intern("upper");
        empty_str = PyUnicode_New(0, 0);
        key_accept = intern("accept");
        key_content_md5 = intern("content-md5");
        key_content_type = intern("content-type");
        key_date = intern("date");
        key_signature_headers = intern("x-ca-signature-headers");
        for (int i = 0; i < N_FIELDS; i++) {
            field_keys[i] = intern(FIELD_NAMES[i]);
            if (field_keys[i] == NULL) {
                return NULL;
            }
        }
        str_copy = intern("copy");
        str_update = intern("update");
        str_digest = intern("digest");
        if (str_copy == NULL || str_update == NULL || str_digest == NULL) {
            return NULL;
        }
        default_method = intern("HmacSHA256");
        default_stage = intern("RELEASE");
        if (default_method == NULL || default_stage == NULL || excluded == NULL || names_cache == NULL || str_lower == NULL || str_upper == NULL
            || empty_str == NULL || key_accept == NULL || key_content_md5 == NULL
            || key_content_type == NULL || key_date == NULL || key_signature_headers == NULL) {
            Py_CLEAR(excluded);
            return NULL;
        }
    }
    return PyModule_Create(&digest_module);
}
