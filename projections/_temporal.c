/* projections._temporal: the audit index builder's commonest rows in C.
 *
 * TemporalBuilder.fast_apply_python (projections/temporal.py) is the reference. ``grant_rows``
 * applies the rows of a batch from ``start`` on, for as long as it understands each one
 * completely, and returns the index of the first row it did not apply (len(batch) when it
 * applied them all); fast_apply applies that row (and the next ones of other topics) in
 * Python and calls again for the rest. On the benchmark's 1M-event log these rows are
 * ~86% of the events. A row is applied here only when:
 *
 * - it is an exact 5-tuple (exact int position, originator id, version, topic, state) whose
 *   topic is an exact str naming GrantGiven, GrantEndChanged, GrantRevoked, AppDisabled,
 *   AppEnabled, KeyPairReset or AppCodeReset (with an exact str originator id and exact bytes state), or
 *   a topic the builder ignores (AppKeyClaimed, AppCodeClaimed, TokenIssued, TokenRevoked,
 *   IdempotencyKeyUsed: only the position advances, as in the reference);
 * - the state is a msgpack map of exactly the topic's keys (timestamp, actor, source and:
 *   api_id, stage, until [, description, class_version: GrantGiven version 2, unread] |
 *   api_id, stage, role | nothing | app_key, new_app_key,
 *   secret_sealed | code_hash, new_code_hash, code_sealed, hint), each once, any order,
 *   nothing after the map; timestamp an int or a msgpack timestamp (ext -1, 32/64/96-bit,
 *   nanoseconds < 10^9, |seconds| <= 9e12), until nil, an int or a timestamp; api_id, stage,
 *   app_key, new_app_key, code_hash, new_code_hash, hint str; the keys no handler reads any
 *   of nil, bool, int, timestamp, str, bin; every str valid UTF-8;
 * - the originator id is already in the uuids cache (an exact str app id) and, except for a
 *   reset that keeps its AppKey (the reference returns before looking the app up), that app
 *   is in builder.apps as an exact AppState whose slots hold what the handler expects (exact
 *   dicts, periods that are lists of their row's length, or None).
 *
 * Anything else (another topic, an app not loaded yet, a wrong type, an extra or missing
 * key, truncated or malformed bytes, huge values) stops the loop before anything of that
 * row is changed. Instants are converted exactly as msgpack's timestamp=2 then ``_micros``
 * do: nanoseconds floor-divided by 1000. A row applied here makes exactly the changes of
 * its TemporalBuilder handler (the same period lists, ``ended`` tuples, dirty flags, in the
 * same order) and the same horizon / position bookkeeping as the reference loop. The GIL is
 * held throughout; no Python code runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Timestamps converted here: |seconds| up to this (about year 287,000; |µs| < 2^63); beyond, Python. */
#define MAX_ABS_SECONDS INT64_C(9000000000000)

static PyObject *str_apps, *str_grants, *str_new_grants, *str_new_enabled, *str_new_creds, *str_ended, *str_horizon,
    *str_position,
    *str_grant_periods;

/* -- a small cache of the short ASCII strs (API ids, stages): one object per value ------------ */

#define CACHE_SLOTS 1024
#define CACHE_MAX_LEN 64
static PyObject *str_cache[CACHE_SLOTS];

static PyObject *
ascii_str(const unsigned char *s, Py_ssize_t n)
{
    PyObject *u;
    if (n <= CACHE_MAX_LEN) {
        uint32_t h = 2166136261u;
        for (Py_ssize_t i = 0; i < n; i++)
            h = (h ^ s[i]) * 16777619u;
        h ^= (uint32_t)n;
        PyObject **slot = &str_cache[h & (CACHE_SLOTS - 1)];
        if (*slot != NULL && PyUnicode_GET_LENGTH(*slot) == n && memcmp(PyUnicode_DATA(*slot), s, (size_t)n) == 0) {
            Py_INCREF(*slot);
            return *slot;
        }
        u = PyUnicode_New(n, 127);
        if (u == NULL)
            return NULL;
        memcpy(PyUnicode_DATA(u), s, (size_t)n);
        Py_INCREF(u);
        Py_XSETREF(*slot, u);
        return u;
    }
    u = PyUnicode_New(n, 127);
    if (u == NULL)
        return NULL;
    memcpy(PyUnicode_DATA(u), s, (size_t)n);
    return u;
}

/* -- a strict msgpack reader for the few shapes of a grant's state -------------------------- */

typedef struct {
    const unsigned char *p, *end;
} Reader;

enum { V_NIL, V_BOOL, V_INT, V_STR, V_BIN };

typedef struct {
    int kind;
    int64_t micros;           /* V_INT: the value (ns, or a timestamp's ns) floor-divided by 1000 */
    const unsigned char *s;   /* V_STR */
    Py_ssize_t n;
    int ascii;
} Value;

static inline int
need(const Reader *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static inline uint64_t
be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline int64_t
floor_div_1000(int64_t v)
{
    int64_t q = v / 1000;
    if (v % 1000 != 0 && v < 0)
        q -= 1;
    return q;
}

static int
set_signed(Value *v, int64_t x)
{
    v->kind = V_INT;
    v->micros = floor_div_1000(x);
    return 0;
}

static int
set_unsigned(Value *v, uint64_t x)
{
    v->kind = V_INT;
    v->micros = (int64_t)(x / 1000);  /* < 2^64 / 1000: fits */
    return 0;
}

static int
is_ascii(const unsigned char *s, Py_ssize_t n)
{
    unsigned char acc = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        acc |= s[i];
    return acc < 0x80;
}

static int
read_str_body(Reader *r, size_t n, Value *v)
{
    if (n > (size_t)PY_SSIZE_T_MAX || !need(r, n))
        return -1;
    v->kind = V_STR;
    v->s = r->p;
    v->n = (Py_ssize_t)n;
    v->ascii = is_ascii(r->p, (Py_ssize_t)n);
    r->p += n;
    return 0;
}

/* The msgpack timestamp extension (type -1) of 4, 8 or 12 bytes, as µs. */
static int
read_timestamp(Reader *r, size_t len, Value *v)
{
    if (!need(r, 1 + len) || (signed char)r->p[0] != -1)
        return -1;
    const unsigned char *d = r->p + 1;
    int64_t sec;
    uint64_t nsec;
    if (len == 4) {
        sec = (int64_t)be(d, 4);
        nsec = 0;
    }
    else if (len == 8) {
        uint64_t x = be(d, 8);
        nsec = x >> 34;
        sec = (int64_t)(x & UINT64_C(0x3ffffffff));
    }
    else if (len == 12) {
        nsec = be(d, 4);
        sec = (int64_t)be(d + 4, 8);
    }
    else
        return -1;
    if (nsec >= 1000000000u || sec > MAX_ABS_SECONDS || sec < -MAX_ABS_SECONDS)
        return -1;
    /* ns = sec * 10^9 + nsec with 0 <= nsec < 10^9: floor(ns / 1000) = sec * 10^6 + nsec / 1000 */
    v->kind = V_INT;
    v->micros = sec * 1000000 + (int64_t)(nsec / 1000);
    r->p += 1 + len;
    return 0;
}

/* One scalar value; -1 for anything else (the row goes to Python). */
static int
read_value(Reader *r, Value *v)
{
    if (!need(r, 1))
        return -1;
    unsigned char b = *r->p++;
    if (b <= 0x7f)
        return set_signed(v, b);
    if (b >= 0xe0)
        return set_signed(v, (int8_t)b);
    if ((b & 0xe0) == 0xa0)
        return read_str_body(r, b & 0x1f, v);
    switch (b) {
    case 0xc0:
        v->kind = V_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        v->kind = V_BOOL;
        return 0;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int n = 1 << (b - 0xcc);
        if (!need(r, (size_t)n))
            return -1;
        uint64_t x = be(r->p, n);
        r->p += n;
        return set_unsigned(v, x);
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int n = 1 << (b - 0xd0);
        if (!need(r, (size_t)n))
            return -1;
        uint64_t x = be(r->p, n);
        r->p += n;
        int64_t s;
        if (n == 1)
            s = (int8_t)x;
        else if (n == 2)
            s = (int16_t)x;
        else if (n == 4)
            s = (int32_t)x;
        else
            s = (int64_t)x;
        return set_signed(v, s);
    }
    case 0xc4: case 0xc5: case 0xc6: {  /* bin: bytes (raw=False), never used by a handler here */
        int n = 1 << (b - 0xc4);
        if (!need(r, (size_t)n))
            return -1;
        size_t len = (size_t)be(r->p, n);
        r->p += n;
        if (!need(r, len))
            return -1;
        r->p += len;
        v->kind = V_BIN;
        return 0;
    }
    case 0xd9: case 0xda: case 0xdb: {
        int n = 1 << (b - 0xd9);
        if (!need(r, (size_t)n))
            return -1;
        size_t len = (size_t)be(r->p, n);
        r->p += n;
        return read_str_body(r, len, v);
    }
    case 0xd6:
        return read_timestamp(r, 4, v);
    case 0xd7:
        return read_timestamp(r, 8, v);
    case 0xc7: case 0xc8: case 0xc9: {
        int n = 1 << (b - 0xc7);
        if (!need(r, (size_t)n))
            return -1;
        size_t len = (size_t)be(r->p, n);
        r->p += n;
        return read_timestamp(r, len, v);
    }
    default:
        return -1;  /* floats, arrays, maps, other exts, 0xc1 */
    }
}

/* -- the states of the topics handled here ---------------------------------------------------- */

enum { K_TIMESTAMP, K_ACTOR, K_SOURCE, K_API_ID, K_STAGE, K_UNTIL, K_ROLE, K_APP_KEY, K_NEW_APP_KEY, K_SECRET,
       K_CODE_HASH, K_NEW_CODE_HASH, K_CODE_SEALED, K_HINT, K_DESCRIPTION, K_CLASS_VERSION, N_KEYS };
#define BIT(k) (1u << (k))
#define S_EVENT (BIT(K_TIMESTAMP) | BIT(K_ACTOR) | BIT(K_SOURCE))
#define S_GRANT (S_EVENT | BIT(K_API_ID) | BIT(K_STAGE) | BIT(K_UNTIL))
#define S_REVOKE (S_EVENT | BIT(K_API_ID) | BIT(K_STAGE) | BIT(K_ROLE))
#define S_RESET (S_EVENT | BIT(K_APP_KEY) | BIT(K_NEW_APP_KEY) | BIT(K_SECRET))
#define S_CODE_RESET (S_EVENT | BIT(K_CODE_HASH) | BIT(K_NEW_CODE_HASH) | BIT(K_CODE_SEALED) | BIT(K_HINT))
/* Keys a grant's state may have besides S_GRANT: GrantGiven version 2 (ledger.domain) adds
 * description and the library's class_version; the handler reads neither. */
#define OPT_GRANT (BIT(K_DESCRIPTION) | BIT(K_CLASS_VERSION))
/* Keys whose value no handler reads: any scalar msgpack decodes is fine (a str valid UTF-8). */
#define FREE_KEYS (BIT(K_ACTOR) | BIT(K_SOURCE) | BIT(K_ROLE) | BIT(K_SECRET) | BIT(K_CODE_SEALED) | OPT_GRANT)

static int
key_index(const Value *k)
{
    if (k->kind != V_STR)
        return -1;
    static const char *const names[N_KEYS] = {"timestamp", "actor", "source", "api_id", "stage", "until", "role",
                                              "app_key", "new_app_key", "secret_sealed", "code_hash", "new_code_hash",
                                              "code_sealed", "hint", "description", "class_version"};
    for (int i = 0; i < N_KEYS; i++)
        if ((size_t)k->n == strlen(names[i]) && memcmp(k->s, names[i], (size_t)k->n) == 0)
            return i;
    return -1;
}

/* The values of a state that must be a map of exactly the keys of ``schema`` and any of
 * ``optional`` (each once, any order, nothing after it); 0, or -1 when the row is not one for
 * this path. */
static int
read_state(const unsigned char *data, Py_ssize_t size, unsigned schema, unsigned optional, Value vals[N_KEYS])
{
    Reader r = {data, data + size};
    if (!need(&r, 1))
        return -1;
    unsigned char b = *r.p++;
    uint64_t count;
    if ((b & 0xf0) == 0x80)
        count = b & 0x0f;
    else if (b == 0xde || b == 0xdf) {
        int n = b == 0xde ? 2 : 4;
        if (!need(&r, (size_t)n))
            return -1;
        count = be(r.p, n);
        r.p += n;
    }
    else
        return -1;
    if (count < (uint64_t)__builtin_popcount(schema) || count > (uint64_t)__builtin_popcount(schema | optional))
        return -1;
    unsigned seen = 0, allowed = schema | optional;
    for (uint64_t i = 0; i < count; i++) {
        Value k;
        if (read_value(&r, &k) < 0)
            return -1;
        int ki = key_index(&k);
        if (ki < 0 || !(allowed & BIT(ki)) || (seen & BIT(ki)))
            return -1;
        seen |= BIT(ki);
        if (read_value(&r, &vals[ki]) < 0)
            return -1;
    }
    if (r.p != r.end)
        return -1;  /* trailing bytes: msgpack's ExtraData */
    if ((seen & schema) != schema)
        return -1;  /* a required key missing (an optional one took its place in the count) */
    if (vals[K_TIMESTAMP].kind != V_INT)
        return -1;
    for (int i = 0; i < N_KEYS; i++) {
        if (!(seen & BIT(i)))
            continue;
        if (FREE_KEYS & BIT(i)) {
            if (vals[i].kind == V_STR && !vals[i].ascii) {  /* only validated, as msgpack would decode it */
                PyObject *u = PyUnicode_DecodeUTF8((const char *)vals[i].s, vals[i].n, NULL);
                if (u == NULL) {
                    PyErr_Clear();
                    return -1;
                }
                Py_DECREF(u);
            }
        }
        else if (i == K_UNTIL) {
            if (vals[i].kind != V_INT && vals[i].kind != V_NIL)
                return -1;
        }
        else if (i != K_TIMESTAMP && vals[i].kind != V_STR)
            return -1;  /* api_id, stage, app_key, new_app_key, code_hash, new_code_hash, hint */
    }
    return 0;
}

/* A str of a value (new reference); NULL with no exception set when it is not valid UTF-8. */
static PyObject *
value_str(const Value *v, int cached)
{
    if (v->ascii) {
        if (cached)
            return ascii_str(v->s, v->n);
        PyObject *u = PyUnicode_New(v->n, 127);
        if (u != NULL)
            memcpy(PyUnicode_DATA(u), v->s, (size_t)v->n);
        return u;
    }
    PyObject *u = PyUnicode_DecodeUTF8((const char *)v->s, v->n, NULL);
    if (u == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        PyErr_Clear();
    return u;
}

enum { T_OTHER, T_GRANT, T_REVOKE, T_DISABLED, T_ENABLED, T_RESET, T_CODE_RESET, T_IGNORED };

/* Which handler the reference runs for a topic (T_IGNORED: none, T_OTHER: not one of ours). */
static int
topic_kind(PyObject *topic)
{
    if (!PyUnicode_CheckExact(topic) || !PyUnicode_IS_COMPACT_ASCII(topic))
        return T_OTHER;
    Py_ssize_t n = PyUnicode_GET_LENGTH(topic);
    const char *s = (const char *)PyUnicode_DATA(topic);
    if (n < 11 || memcmp(s, "authledger:", 11) != 0)
        return T_OTHER;
    s += 11;
    n -= 11;
#define IS(name) (n == (Py_ssize_t)sizeof(name) - 1 && memcmp(s, name, sizeof(name) - 1) == 0)
    if (IS("GrantEndChanged") || IS("GrantGiven"))
        return T_GRANT;
    if (IS("GrantRevoked"))
        return T_REVOKE;
    if (IS("AppDisabled"))
        return T_DISABLED;
    if (IS("AppEnabled"))
        return T_ENABLED;
    if (IS("KeyPairReset"))
        return T_RESET;
    if (IS("AppCodeReset"))
        return T_CODE_RESET;
    if (IS("AppCodeClaimed") || IS("AppKeyClaimed") || IS("TokenIssued") || IS("TokenRevoked")
        || IS("IdempotencyKeyUsed"))
        return T_IGNORED;
#undef IS
    return T_OTHER;
}

static const unsigned schema_of[] = {0, S_GRANT, S_REVOKE, S_EVENT, S_EVENT, S_RESET, S_CODE_RESET, 0};
static const unsigned optional_of[] = {0, OPT_GRANT, 0, 0, 0, 0, 0, 0};

/* -- applying rows ---------------------------------------------------------------------------- */

typedef struct {
    PyObject *builder, *batch, *uuids, *app_type;
    /* borrowed from the builder (it holds them for the whole call) */
    PyObject *apps, *new_grants, *new_enabled, *new_creds, *ended_grants, *ended_enabled, *ended_creds;
    int64_t latest;
    int latest_changed;
    PyObject *last_pos;  /* borrowed from the batch: the position of the last row applied */
} Run;

static PyObject *str_enabled, *str_deleted, *str_dirty, *str_app_id, *str_creds, *str_app_key_kind,
    *str_app_code_kind, *str_mask, *str_enabled_periods, *str_cred_periods;

/* The period ``p`` (a list of ``size``) may be closed here: a list of that size, or None. */
static inline int
closable(PyObject *p, Py_ssize_t size)
{
    return p == Py_None || p == NULL || (PyList_CheckExact(p) && PyList_GET_SIZE(p) == size);
}

/* ``_close``'s ended tuple for p (new reference), Py_None (new reference) when p has no id. */
static PyObject *
ended_tuple(PyObject *p, PyObject *t, PyObject *pos)
{
    if (p == NULL || p == Py_None || PyList_GET_ITEM(p, 0) == Py_None)
        return Py_NewRef(Py_None);
    return PyTuple_Pack(3, t, pos, PyList_GET_ITEM(p, 0));
}

/* TemporalBuilder._close: p[end] = t, p[end_pos] = pos, and its (t, pos, id) when it has an id. */
static int
close_period(PyObject *p, Py_ssize_t end, Py_ssize_t end_pos, PyObject *t, PyObject *pos, PyObject *ended,
             PyObject *ended_list)
{
    if (p == NULL || p == Py_None)
        return 0;
    PyObject *a = PyList_GET_ITEM(p, end), *b = PyList_GET_ITEM(p, end_pos);
    PyList_SET_ITEM(p, end, Py_NewRef(t));
    PyList_SET_ITEM(p, end_pos, Py_NewRef(pos));
    Py_DECREF(a);
    Py_DECREF(b);
    if (ended != Py_None)
        return PyList_Append(ended_list, ended);
    return 0;
}

/* A new list of n items (new references to them). */
static PyObject *
list_of(Py_ssize_t n, PyObject **items)
{
    PyObject *l = PyList_New(n);
    if (l == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyList_SET_ITEM(l, i, Py_NewRef(items[i]));
    return l;
}

/* An attribute of an exact AppState (new reference); NULL with no exception when unset. */
static PyObject *
slot(PyObject *app, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(app, name);
    if (v == NULL)
        PyErr_Clear();
    return v;
}

/* _grant_given. 1 applied, 0 left to Python (nothing changed), -1 error. */
static int
do_grant(Run *run, PyObject *app, PyObject *app_id, Value *vals, PyObject *t, PyObject *pos)
{
    int result = 0;
    PyObject *grants = NULL, *api = NULL, *stage = NULL, *key = NULL, *until = NULL, *p = NULL, *ended = NULL,
             *old = NULL;
    if ((grants = slot(app, str_grants)) == NULL || !PyDict_CheckExact(grants))
        goto done;
    if ((api = value_str(&vals[K_API_ID], 1)) == NULL || (stage = value_str(&vals[K_STAGE], 1)) == NULL)
        goto skip;
    if ((key = PyTuple_Pack(2, api, stage)) == NULL)
        goto fail;
    old = PyDict_GetItemWithError(grants, key);
    if (old == NULL && PyErr_Occurred())
        goto fail;
    Py_XINCREF(old);  /* held across the changes: the dict's reference goes below */
    if (!closable(old, 9))
        goto done;
    if (vals[K_UNTIL].kind == V_NIL)
        until = Py_NewRef(Py_None);
    else if ((until = PyLong_FromLongLong(vals[K_UNTIL].micros)) == NULL)
        goto fail;
    if ((ended = ended_tuple(old, t, pos)) == NULL)
        goto fail;
    /* [None, app_id, api_id, stage, until, t, None, pos, None] */
    PyObject *items[9] = {Py_None, app_id, api, stage, until, t, Py_None, pos, Py_None};
    if ((p = list_of(9, items)) == NULL)
        goto fail;
    /* the changes, in the reference's order */
    if (close_period(old, 6, 8, t, pos, ended, run->ended_grants) < 0 || PyDict_SetItem(grants, key, p) < 0
        || PyList_Append(run->new_grants, p) < 0)
        goto fail;
    result = 1;
    goto done;
skip:
    if (!PyErr_Occurred())
        goto done;  /* invalid UTF-8: Python's msgpack raises, we leave the row to it */
fail:
    result = -1;
done:
    Py_XDECREF(grants);
    Py_XDECREF(api);
    Py_XDECREF(stage);
    Py_XDECREF(key);
    Py_XDECREF(until);
    Py_XDECREF(p);
    Py_XDECREF(ended);
    Py_XDECREF(old);
    return result;
}

/* _grant_revoked: close and forget the grant's open period (if any). */
static int
do_revoke(Run *run, PyObject *app, Value *vals, PyObject *t, PyObject *pos)
{
    int result = 0;
    PyObject *grants = NULL, *api = NULL, *stage = NULL, *key = NULL, *ended = NULL, *old = NULL;
    if ((grants = slot(app, str_grants)) == NULL || !PyDict_CheckExact(grants))
        goto done;
    if ((api = value_str(&vals[K_API_ID], 1)) == NULL || (stage = value_str(&vals[K_STAGE], 1)) == NULL)
        goto skip;
    if ((key = PyTuple_Pack(2, api, stage)) == NULL)
        goto fail;
    old = PyDict_GetItemWithError(grants, key);
    if (old == NULL && PyErr_Occurred())
        goto fail;
    Py_XINCREF(old);
    if (!closable(old, 9))
        goto done;
    if ((ended = ended_tuple(old, t, pos)) == NULL)
        goto fail;
    if (old != NULL && PyDict_DelItem(grants, key) < 0)
        goto fail;
    if (close_period(old, 6, 8, t, pos, ended, run->ended_grants) < 0)
        goto fail;
    result = 1;
    goto done;
skip:
    if (!PyErr_Occurred())
        goto done;
fail:
    result = -1;
done:
    Py_XDECREF(grants);
    Py_XDECREF(api);
    Py_XDECREF(stage);
    Py_XDECREF(key);
    Py_XDECREF(ended);
    Py_XDECREF(old);
    return result;
}

/* _app_disabled: close the enabled period; app.enabled = None; app.dirty = True. */
static int
do_disabled(Run *run, PyObject *app, PyObject *t, PyObject *pos)
{
    int result = 0;
    PyObject *enabled = NULL, *ended = NULL;
    if ((enabled = slot(app, str_enabled)) == NULL || !closable(enabled, 6))
        goto done;
    if ((ended = ended_tuple(enabled, t, pos)) == NULL)
        goto fail;
    if (close_period(enabled, 3, 5, t, pos, ended, run->ended_enabled) < 0
        || PyObject_SetAttr(app, str_enabled, Py_None) < 0 || PyObject_SetAttr(app, str_dirty, Py_True) < 0)
        goto fail;
    result = 1;
    goto done;
fail:
    result = -1;
done:
    Py_XDECREF(enabled);
    Py_XDECREF(ended);
    return result;
}

/* _app_enabled: a new enabled period unless one is open or the app is deleted. */
static int
do_enabled(Run *run, PyObject *app, PyObject *t, PyObject *pos)
{
    int result = 0;
    PyObject *enabled = NULL, *deleted = NULL, *owner = NULL, *p = NULL;
    if ((enabled = slot(app, str_enabled)) == NULL || (deleted = slot(app, str_deleted)) == NULL)
        goto done;
    if (enabled != Py_None || deleted != Py_None) {
        result = 1;  /* nothing to do, as in the reference */
        goto done;
    }
    if ((owner = slot(app, str_app_id)) == NULL)
        goto done;
    /* [None, app.app_id, t, None, pos, None] */
    PyObject *items[6] = {Py_None, owner, t, Py_None, pos, Py_None};
    if ((p = list_of(6, items)) == NULL)
        goto fail;
    if (PyObject_SetAttr(app, str_enabled, p) < 0 || PyList_Append(run->new_enabled, p) < 0
        || PyObject_SetAttr(app, str_dirty, Py_True) < 0)
        goto fail;
    result = 1;
    goto done;
fail:
    result = -1;
done:
    Py_XDECREF(enabled);
    Py_XDECREF(deleted);
    Py_XDECREF(owner);
    Py_XDECREF(p);
    return result;
}

/* _key_pair_reset with another AppKey, or _app_code_reset: close the old credential's period
 * (popped from app.creds), then _open_cred: close the new one's (if another key), open it with
 * ``cred_kind`` and ``display``. */
static int
do_reset(Run *run, PyObject *app, PyObject *old_key, PyObject *new_key, PyObject *cred_kind, PyObject *display,
         PyObject *t, PyObject *pos)
{
    int result = 0;
    PyObject *creds = NULL, *owner = NULL, *old = NULL, *cur = NULL, *ended_old = NULL, *ended_cur = NULL,
             *p = NULL;
    if ((creds = slot(app, str_creds)) == NULL || !PyDict_CheckExact(creds) || (owner = slot(app, str_app_id)) == NULL)
        goto done;
    old = PyDict_GetItemWithError(creds, old_key);
    if (old == NULL && PyErr_Occurred())
        goto fail;
    Py_XINCREF(old);
    int same = PyUnicode_Compare(old_key, new_key);
    if (same == -1 && PyErr_Occurred())
        goto fail;
    if (same != 0) {  /* the same key: popped just before, so _open_cred finds nothing to close */
        cur = PyDict_GetItemWithError(creds, new_key);
        if (cur == NULL && PyErr_Occurred())
            goto fail;
        Py_XINCREF(cur);
    }
    if (!closable(old, 9) || !closable(cur, 9))
        goto done;
    if ((ended_old = ended_tuple(old, t, pos)) == NULL || (ended_cur = ended_tuple(cur, t, pos)) == NULL)
        goto fail;
    /* [None, app.app_id, new, kind, display, t, None, pos, None] */
    PyObject *items[9] = {Py_None, owner, new_key, cred_kind, display, t, Py_None, pos, Py_None};
    if ((p = list_of(9, items)) == NULL)
        goto fail;
    /* the reference: creds.pop(old) closed; _open_cred closes creds.get(new), sets it, appends */
    if ((old != NULL && PyDict_DelItem(creds, old_key) < 0)
        || close_period(old, 6, 8, t, pos, ended_old, run->ended_creds) < 0
        || close_period(cur, 6, 8, t, pos, ended_cur, run->ended_creds) < 0
        || PyDict_SetItem(creds, new_key, p) < 0 || PyList_Append(run->new_creds, p) < 0)
        goto fail;
    result = 1;
    goto done;
fail:
    result = -1;
done:
    Py_XDECREF(creds);
    Py_XDECREF(owner);
    Py_XDECREF(old);
    Py_XDECREF(cur);
    Py_XDECREF(ended_old);
    Py_XDECREF(ended_cur);
    Py_XDECREF(p);
    return result;
}

/* Apply one row if it is one we handle: 1 applied, 0 not (nothing changed), -1 error set
 * (only an allocation failure, or a failure appending: what Python would raise too). */
static int
apply_row(Run *run, PyObject *row)
{
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 5)
        return 0;
    PyObject *pos = PyTuple_GET_ITEM(row, 0), *oid = PyTuple_GET_ITEM(row, 1),
             *topic = PyTuple_GET_ITEM(row, 3), *data = PyTuple_GET_ITEM(row, 4);
    if (!PyLong_CheckExact(pos))
        return 0;
    int kind = topic_kind(topic);
    if (kind == T_IGNORED) {  /* the reference only records the position */
        run->last_pos = pos;
        return 1;
    }
    if (kind == T_OTHER || !PyUnicode_CheckExact(oid) || !PyBytes_CheckExact(data))
        return 0;
    Value vals[N_KEYS];
    if (read_state((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), schema_of[kind], optional_of[kind], vals) < 0)
        return 0;
    PyObject *app_id = PyDict_GetItemWithError(run->uuids, oid);  /* borrowed */
    if (app_id == NULL) {
        PyErr_Clear();  /* not cached yet (Python's __missing__ computes it), or unhashable */
        return 0;
    }
    if (!PyUnicode_CheckExact(app_id))
        return 0;
    int rc = 0;
    PyObject *t = NULL, *old_key = NULL, *new_key = NULL, *hint = NULL, *display = NULL;
    if (kind == T_RESET) {
        if ((old_key = value_str(&vals[K_APP_KEY], 0)) == NULL || (new_key = value_str(&vals[K_NEW_APP_KEY], 0)) == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
    }
    else if (kind == T_CODE_RESET) {
        if ((old_key = value_str(&vals[K_CODE_HASH], 0)) == NULL
            || (new_key = value_str(&vals[K_NEW_CODE_HASH], 0)) == NULL || (hint = value_str(&vals[K_HINT], 0)) == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
        if ((display = PyUnicode_Concat(str_mask, hint)) == NULL) {  /* mask_code(hint): "****" + hint */
            rc = -1;
            goto done;
        }
    }
    PyObject *app = NULL;
    if (kind != T_RESET || PyUnicode_Compare(old_key, new_key) != 0) {  /* a reset to the same AppKey needs no app */
        app = PyDict_GetItemWithError(run->apps, app_id);  /* borrowed */
        if (app == NULL) {
            PyErr_Clear();
            goto done;  /* unknown here: Python asks the loader (or raises) */
        }
        if ((PyObject *)Py_TYPE(app) != run->app_type)
            goto done;
    }
    int64_t tm = vals[K_TIMESTAMP].micros;
    if ((t = PyLong_FromLongLong(tm)) == NULL) {
        rc = -1;
        goto done;
    }
    Py_XINCREF(app);  /* kept alive while it changes, whatever the dicts do */
    switch (kind) {
    case T_GRANT:
        rc = do_grant(run, app, app_id, vals, t, pos);
        break;
    case T_REVOKE:
        rc = do_revoke(run, app, vals, t, pos);
        break;
    case T_DISABLED:
        rc = do_disabled(run, app, t, pos);
        break;
    case T_ENABLED:
        rc = do_enabled(run, app, t, pos);
        break;
    case T_CODE_RESET:
        rc = do_reset(run, app, old_key, new_key, str_app_code_kind, display, t, pos);
        break;
    default:  /* T_RESET */
        rc = app == NULL ? 1 : do_reset(run, app, old_key, new_key, str_app_key_kind, new_key, t, pos);
    }
    Py_XDECREF(app);
    if (rc == 1) {
        if (tm > run->latest) {
            run->latest = tm;
            run->latest_changed = 1;
        }
        run->last_pos = pos;
    }
done:
    Py_XDECREF(t);
    Py_XDECREF(old_key);
    Py_XDECREF(new_key);
    Py_XDECREF(hint);
    Py_XDECREF(display);
    return rc;
}

/* Record the position and horizon of the rows applied (as fast_apply does after each row). */
static int
finish(Run *run)
{
    if (run->last_pos == NULL)
        return 0;
    if (PyObject_SetAttr(run->builder, str_position, run->last_pos) < 0)
        return -1;
    if (run->latest_changed) {
        PyObject *h = PyLong_FromLongLong(run->latest);
        if (h == NULL)
            return -1;
        int rc = PyObject_SetAttr(run->builder, str_horizon, h);
        Py_DECREF(h);
        if (rc < 0)
            return -1;
    }
    return 0;
}

PyDoc_STRVAR(grant_rows_doc,
"grant_rows(builder, batch, start, uuids, app_type) -> int\n\n"
"Apply batch[start:] to the TemporalBuilder while each row is one it fully understands\n"
"(GrantGiven, GrantEndChanged, GrantRevoked, AppDisabled, AppEnabled, KeyPairReset,\n"
"AppCodeReset, or an\n"
"ignored topic); return the index of the first row not applied.");

/* A list attribute of the builder (borrowed: the builder's own reference keeps it), or, for
 * ``ended``, its list for ``table``; NULL with no exception when it is not an exact list. */
static PyObject *
builder_list(PyObject *holder, PyObject *name, PyObject *table, PyObject **keep)
{
    PyObject *v = PyObject_GetAttr(holder, name);
    if (v == NULL)
        return NULL;
    *keep = v;
    if (table != NULL) {
        if (!PyDict_CheckExact(v))
            return NULL;
        v = PyDict_GetItemWithError(v, table);
        if (v == NULL)
            return NULL;
    }
    return PyList_CheckExact(v) ? v : NULL;
}

static PyObject *
grant_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "grant_rows takes 5 arguments");
        return NULL;
    }
    Run run = {args[0], args[1], args[3], args[4]};
    run.latest = 0;
    Py_ssize_t start = PyLong_AsSsize_t(args[2]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(run.batch) || !PyDict_Check(run.uuids) || !PyType_Check(run.app_type)) {
        PyErr_SetString(PyExc_TypeError, "grant_rows(builder, list, int, dict, type)");
        return NULL;
    }
    if (start < 0 || start >= PyList_GET_SIZE(run.batch))
        return PyLong_FromSsize_t(start);
    enum { N_HELD = 7 };
    PyObject *held[N_HELD] = {NULL};  /* the builder's attributes, held for the call */
    PyObject *horizon = NULL;
    Py_ssize_t i = start;
    if ((run.new_grants = builder_list(run.builder, str_new_grants, NULL, &held[0])) == NULL
        || (run.new_enabled = builder_list(run.builder, str_new_enabled, NULL, &held[1])) == NULL
        || (run.new_creds = builder_list(run.builder, str_new_creds, NULL, &held[2])) == NULL
        || (run.ended_grants = builder_list(run.builder, str_ended, str_grant_periods, &held[3])) == NULL
        || (run.ended_enabled = builder_list(run.builder, str_ended, str_enabled_periods, &held[4])) == NULL
        || (run.ended_creds = builder_list(run.builder, str_ended, str_cred_periods, &held[5])) == NULL) {
        if (PyErr_Occurred())
            goto error;
        goto out;  /* not the builder's usual structures: Python applies the row */
    }
    if ((held[6] = run.apps = PyObject_GetAttr(run.builder, str_apps)) == NULL)
        goto error;
    if (!PyDict_CheckExact(run.apps))
        goto out;
    if ((horizon = PyObject_GetAttr(run.builder, str_horizon)) == NULL)
        goto error;
    if (horizon == Py_None)
        run.latest = INT64_MIN;  /* below every instant converted here */
    else if (PyLong_CheckExact(horizon)) {
        int overflow;
        long long h = PyLong_AsLongLongAndOverflow(horizon, &overflow);
        if (h == -1 && PyErr_Occurred())
            goto error;
        /* out of int64: beyond every instant converted here, so comparisons are the same */
        run.latest = overflow > 0 ? INT64_MAX : overflow < 0 ? INT64_MIN : h;
    }
    else
        goto out;  /* a horizon that is not an int: Python compares */
    for (; i < PyList_GET_SIZE(run.batch); i++) {
        int rc = apply_row(&run, PyList_GET_ITEM(run.batch, i));
        if (rc < 0)
            goto error;
        if (rc == 0)
            break;
    }
out:
    if (finish(&run) < 0)
        goto error_finished;
    for (int k = 0; k < N_HELD; k++)
        Py_XDECREF(held[k]);
    Py_XDECREF(horizon);
    return PyLong_FromSsize_t(i);
error:
    {
        /* the rows applied so far are recorded (fast_apply's caller redoes the rest) */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (finish(&run) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
error_finished:
    for (int k = 0; k < N_HELD; k++)
        Py_XDECREF(held[k]);
    Py_XDECREF(horizon);
    return NULL;
}

static PyMethodDef methods[] = {
    {"grant_rows", (PyCFunction)(void (*)(void))grant_rows, METH_FASTCALL, grant_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "projections._temporal",
    "TemporalBuilder.fast_apply's commonest rows in C: the same changes as the Python reference.", -1, methods,
};

static int
intern(PyObject **where, const char *s)
{
    return (*where = PyUnicode_InternFromString(s)) == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__temporal(void)
{
    if (intern(&str_apps, "apps") < 0 || intern(&str_grants, "grants") < 0 || intern(&str_new_grants, "new_grants") < 0
        || intern(&str_new_enabled, "new_enabled") < 0 || intern(&str_new_creds, "new_creds") < 0
        || intern(&str_ended, "ended") < 0 || intern(&str_horizon, "horizon") < 0
        || intern(&str_position, "position") < 0 || intern(&str_grant_periods, "grant_periods") < 0
        || intern(&str_enabled_periods, "enabled_periods") < 0 || intern(&str_cred_periods, "cred_periods") < 0
        || intern(&str_enabled, "enabled") < 0 || intern(&str_deleted, "deleted") < 0
        || intern(&str_dirty, "dirty") < 0 || intern(&str_app_id, "app_id") < 0 || intern(&str_creds, "creds") < 0
        || intern(&str_app_key_kind, "app_key") < 0 || intern(&str_app_code_kind, "app_code") < 0
        || intern(&str_mask, "****") < 0)
        return NULL;
    return PyModule_Create(&moduledef);
}
