/* projections._check: AuthIndex.check (AppKey kind) and AuthIndex.check_app in C.
 *
 * The pure-Python methods in projections/auth_index.py are the reference; a Checker
 * answers EXACTLY as they do and returns the very same cached Decision objects. It holds
 * references to the index's own dicts (AppKey -> _App, app id -> _App, API id -> settings),
 * reads the _App slots through the offsets of the class's member descriptors, and hands
 * every call it does not handle itself to the reference bound method with the same
 * arguments: keyword arguments other than at=/kind="app_key", non-str ids, another kind,
 * an object that is not exactly an _App, a grants/stages map that is not exactly a dict,
 * an end that is not a float, an unset slot. The reference then does what it does
 * (raise, or answer). Denials not built yet are built by calling app.deny(name), as the
 * reference does. ``at`` that is not exactly a float goes through the reference's
 * ``epoch`` function, at the same point of the decision as in the reference.
 *
 * The flat table. Over thousands of apps a check is bound by memory, not instructions:
 * the dict path touches ~9 scattered objects (key dict entry, the key str, the _App, its
 * grants dict, the API id str, the stages dict, the end float, the Decision). So a Checker
 * also keeps a derived, cache-friendly table: (credential, API id) -> one 128-byte entry
 * holding both ids' bytes, the _App and the end of each standard stage (RELEASE, PRE,
 * TEST), found through an 8-byte-per-slot open-addressing array (a tag of the hash, so a
 * probe rarely touches an entry that is not the one). A hit reads the slot, the entry,
 * the _App (blocked and decisions) and the Decision: four places instead of nine.
 *
 * The table is a cache of the dicts, never a second truth: ``sync(credential, api_id)``
 * recomputes one pair's entry from the dicts (or drops it), ``rebuild()`` recomputes all.
 * AuthIndex calls sync after every change of a key's app or of an app's grants (and
 * rebuild after a bulk load); an entry exists only for plain cases (exact str ids, ASCII,
 * short enough; exact dicts; float ends), so a miss just takes the dict path above, which
 * stays the complete implementation. Blocked status and decisions are read through the
 * _App, so app changes need no sync.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FLAT_KEY_BYTES 85
#define N_STAGES 3

typedef struct {
    Py_hash_t hash;          /* flat_hash(credential, api id) */
    PyObject *app;           /* strong: the _App the credential names */
    double end[N_STAGES];    /* the grant's end per standard stage (when present) */
    uint8_t present;         /* bit i: stage i has a grant */
    uint8_t clen, alen;      /* credential bytes, then API id bytes, in key[] */
    char key[FLAT_KEY_BYTES];
} Entry;                     /* 128 bytes: two cache lines, aligned */
_Static_assert(sizeof(Entry) == 128, "an entry is two cache lines");

typedef struct {
    uint64_t *slots;         /* 0 = empty, else (tag << 32) | (entry index + 1) */
    Entry *entries;          /* dense, 64-byte aligned inside entries_base */
    void *entries_base;
    size_t n, cap_entries, mask;
} Flat;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Flat flat;
    PyObject *table;     /* dict: AppKey -> _App (check) or app id -> _App (check_app) */
    PyObject *apis;      /* dict: API id -> ApiSettings */
    PyObject *app_type;  /* the _App class: only exact instances are read directly */
    PyObject *unknown;   /* the shared unknown_key Decision */
    PyObject *epoch;     /* projections.auth_index.epoch */
    PyObject *reference; /* the bound Python method with the same signature */
    int by_key;          /* 1: check (AppKey), 0: check_app */
} Checker;

/* Slot offsets of _App, read once from its member descriptors. */
enum { S_ALLOWED, S_BLOCKED, S_GRANTS, S_EXPIRED, S_NOT_AUTH, S_STAGE_NOT_AUTH, S_UNKNOWN_API, S_COUNT };
static const char *slot_names[S_COUNT] = {
    "allowed", "blocked", "grants", "expired", "not_authorized", "stage_not_authorized", "unknown_api"};

typedef struct {
    Py_ssize_t offsets[S_COUNT];
    PyObject *deny_names[S_COUNT]; /* interned denial names (only the lazy ones are set) */
    PyObject *str_deny;
    PyObject *str_app_key;
    PyObject *str_at;
    PyObject *str_kind;
    PyObject *stage_names[N_STAGES]; /* interned "RELEASE", "PRE", "TEST" */
} ModState;

static ModState state; /* one interpreter: filled by Checker construction */
static PyObject *state_app_type = NULL;

static int
load_offsets(PyObject *app_type)
{
    if (state_app_type == app_type)
        return 0;
    if (!PyType_Check(app_type)) {
        PyErr_SetString(PyExc_TypeError, "app_type must be a class");
        return -1;
    }
    PyObject *dict = ((PyTypeObject *)app_type)->tp_dict;
    for (int i = 0; i < S_COUNT; i++) {
        PyObject *descr = PyDict_GetItemString(dict, slot_names[i]); /* borrowed */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "app_type has no slot %s", slot_names[i]);
            return -1;
        }
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "slot %s is not an object slot", slot_names[i]);
            return -1;
        }
        state.offsets[i] = m->offset;
    }
    Py_INCREF(app_type);
    Py_XSETREF(state_app_type, app_type);
    return 0;
}

#define SLOT(app, i) (*(PyObject **)((char *)(app) + state.offsets[i]))

static PyObject *
fallback(Checker *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return PyObject_Vectorcall(self->reference, args, nargsf, kwnames);
}

/* ``app.<slot> or app.deny("<slot>")`` */
static PyObject *
denial(PyObject *app, int i)
{
    PyObject *d = SLOT(app, i);
    if (d != NULL) {
        int truth = PyObject_IsTrue(d);
        if (truth < 0)
            return NULL;
        if (truth)
            return Py_NewRef(d);
    }
    return PyObject_CallMethodOneArg(app, state.str_deny, state.deny_names[i]);
}

/* -- the flat table ---------------------------------------------------------------------- */

/* The bytes of an exact, ready, ASCII str, else NULL (such ids never get an entry). */
static const char *
ascii_bytes(PyObject *s, Py_ssize_t *len)
{
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_READY(s) || !PyUnicode_IS_ASCII(s))
        return NULL;
    *len = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_DATA(s);
}

/* 0..2 for an exact str equal to a standard stage name, else -1. */
static int
stage_index(PyObject *stage)
{
    for (int i = 0; i < N_STAGES; i++)
        if (stage == state.stage_names[i])
            return i;
    Py_ssize_t n;
    const char *s = ascii_bytes(stage, &n);
    if (s == NULL)
        return -1;
    for (int i = 0; i < N_STAGES; i++) {
        PyObject *name = state.stage_names[i];
        if (n == PyUnicode_GET_LENGTH(name) && memcmp(s, PyUnicode_DATA(name), n) == 0)
            return i;
    }
    return -1;
}

/* Both ids' str hashes (cached in the str objects), mixed. Exact str: cannot fail. */
static Py_hash_t
flat_hash(PyObject *credential, PyObject *api_id)
{
    uint64_t h = (uint64_t)PyObject_Hash(credential) * 0x9E3779B97F4A7C15ULL;
    h ^= (uint64_t)PyObject_Hash(api_id) + 0x632BE59BD9B4E019ULL + (h << 6) + (h >> 2);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (Py_hash_t)h;
}

#define SLOT_TAG(h) ((uint64_t)(h) >> 32 << 32)

/* The slot index holding (c, a), or -1. */
static Py_ssize_t
flat_find(const Flat *f, Py_hash_t h, const char *c, Py_ssize_t clen, const char *a, Py_ssize_t alen)
{
    if (f->slots == NULL)
        return -1;
    size_t i = (size_t)h & f->mask;
    uint64_t tag = SLOT_TAG(h);
    for (;;) {
        uint64_t s = f->slots[i];
        if (s == 0)
            return -1;
        if ((s & 0xFFFFFFFF00000000ULL) == tag) {
            const Entry *e = &f->entries[(uint32_t)s - 1];
            if (e->hash == h && e->clen == clen && e->alen == alen && memcmp(e->key, c, clen) == 0
                && memcmp(e->key + clen, a, alen) == 0)
                return (Py_ssize_t)i;
        }
        i = (i + 1) & f->mask;
    }
}

static void
flat_place(Flat *f, size_t index)
{
    Py_hash_t h = f->entries[index].hash;
    size_t i = (size_t)h & f->mask;
    while (f->slots[i] != 0)
        i = (i + 1) & f->mask;
    f->slots[i] = SLOT_TAG(h) | (uint64_t)(index + 1);
}

/* Room for ``more`` more entries (load <= 1/2), grown by doubling. -1 on memory error
 * (the table is still whole and correct). */
static int
flat_reserve(Flat *f, size_t more)
{
    if (more >= (size_t)UINT32_MAX - 1 - f->n) {
        PyErr_NoMemory();
        return -1;
    }
    size_t need = f->n + more;
    if (need > f->cap_entries) {
        /* doubling while growing one by one; exactly what is asked for in one go (rebuild) */
        size_t cap = f->cap_entries ? f->cap_entries * 2 : 64;
        if (cap < need)
            cap = need;
        /* PyMem_Raw*: counted by tracemalloc (the benchmark's memory figure); aligned by hand */
        void *base = PyMem_RawMalloc(cap * sizeof(Entry) + 63);
        if (base == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        Entry *entries = (Entry *)(((uintptr_t)base + 63) & ~(uintptr_t)63);
        if (f->n)
            memcpy(entries, f->entries, f->n * sizeof(Entry));
        PyMem_RawFree(f->entries_base);
        f->entries_base = base;
        f->entries = entries;
        f->cap_entries = cap;
    }
    if (f->slots == NULL || need * 2 > f->mask + 1) {
        size_t nslots = f->slots ? (f->mask + 1) * 2 : 128;
        while (need * 2 > nslots)
            nslots *= 2;
        uint64_t *slots = PyMem_RawCalloc(nslots, sizeof(uint64_t));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_RawFree(f->slots);
        f->slots = slots;
        f->mask = nslots - 1;
        for (size_t k = 0; k < f->n; k++)
            flat_place(f, k);
    }
    return 0;
}

/* Remove the entry in slot j; returns its _App (the caller's reference to drop, later:
 * dropping it may run code, and the table must be whole by then). */
static PyObject *
flat_remove(Flat *f, size_t j)
{
    size_t index = (uint32_t)f->slots[j] - 1;
    PyObject *app = f->entries[index].app;
    /* backward-shift deletion (linear probing keeps no tombstones) */
    f->slots[j] = 0;
    size_t k = j;
    for (;;) {
        k = (k + 1) & f->mask;
        uint64_t s = f->slots[k];
        if (s == 0)
            break;
        size_t home = (size_t)f->entries[(uint32_t)s - 1].hash & f->mask;
        int stays = (j < k) ? (home > j && home <= k) : (home > j || home <= k);
        if (!stays) {
            f->slots[j] = s;
            f->slots[k] = 0;
            j = k;
        }
    }
    /* keep the entries dense: the last one moves into the hole */
    size_t last = f->n - 1;
    if (index != last) {
        Py_hash_t h = f->entries[last].hash;
        size_t i = (size_t)h & f->mask;
        while ((uint32_t)f->slots[i] != (uint32_t)(last + 1))
            i = (i + 1) & f->mask;
        f->entries[index] = f->entries[last];
        f->slots[i] = SLOT_TAG(h) | (uint64_t)(index + 1);
    }
    f->n = last;
    return app;
}

/* Drop every entry (and the table's references to the _Apps). */
static void
flat_clear(Flat *f)
{
    Entry *entries = f->entries;
    void *base = f->entries_base;
    size_t n = f->n;
    f->entries = NULL;
    f->entries_base = NULL;
    f->n = f->cap_entries = 0;
    PyMem_RawFree(f->slots);
    f->slots = NULL;
    f->mask = 0;
    for (size_t k = 0; k < n; k++)
        Py_DECREF(entries[k].app);
    PyMem_RawFree(base);
}

/* The entry (credential, api_id) -> app's stages, if it is a plain case: 1 filled, 0 not
 * eligible. Reads dicts only with PyDict_Next: runs no Python code. */
static int
flat_entry(Entry *e, PyObject *credential, PyObject *api_id, PyObject *app, PyObject *app_type,
           PyObject *stages)
{
    Py_ssize_t clen = 0, alen = 0;
    const char *c = ascii_bytes(credential, &clen), *a = ascii_bytes(api_id, &alen);
    if (c == NULL || a == NULL || clen + alen > FLAT_KEY_BYTES)
        return 0;
    if ((PyObject *)Py_TYPE(app) != app_type || !PyDict_CheckExact(stages))
        return 0;
    memset(e, 0, sizeof(Entry));
    Py_ssize_t pos = 0;
    PyObject *stage, *end;
    while (PyDict_Next(stages, &pos, &stage, &end)) {
        if (!PyUnicode_CheckExact(stage))
            return 0; /* a subclass key may compare equal to a standard name: the dict path decides */
        int i = stage_index(stage);
        if (i < 0)
            continue; /* another stage name: no query of a standard stage can find it */
        if (!PyFloat_CheckExact(end))
            return 0;
        e->end[i] = PyFloat_AS_DOUBLE(end);
        e->present |= (uint8_t)(1 << i);
    }
    e->hash = flat_hash(credential, api_id);
    e->app = app; /* the reference is taken when the entry is stored */
    e->clen = (uint8_t)clen;
    e->alen = (uint8_t)alen;
    memcpy(e->key, c, clen);
    memcpy(e->key + clen, a, alen);
    return 1;
}

/* Store e (replacing the pair's entry if any). -1 on memory error. */
static int
flat_store(Flat *f, const Entry *e, PyObject **dropped)
{
    Py_ssize_t j = flat_find(f, e->hash, e->key, e->clen, e->key + e->clen, e->alen);
    if (j >= 0) {
        Entry *old = &f->entries[(uint32_t)f->slots[j] - 1];
        *dropped = old->app;
        *old = *e;
        Py_INCREF(e->app);
        return 0;
    }
    if (flat_reserve(f, 1) < 0)
        return -1;
    f->entries[f->n] = *e;
    Py_INCREF(e->app);
    flat_place(f, f->n);
    f->n++;
    return 0;
}

/* Checker.sync(credential, api_id): recompute this pair's entry from the dicts. */
static PyObject *
checker_sync(Checker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sync(credential, api_id)");
        return NULL;
    }
    PyObject *credential = args[0], *api_id = args[1];
    Py_ssize_t clen = 0, alen = 0;
    const char *c = ascii_bytes(credential, &clen), *a = ascii_bytes(api_id, &alen);
    if (c == NULL || a == NULL || clen + alen > FLAT_KEY_BYTES)
        Py_RETURN_NONE; /* never has an entry */
    /* Read the dicts first (a lookup may run Python code: __eq__ of a key), holding what
     * we read; change the table after, with no Python code in between. */
    PyObject *app = PyDict_GetItemWithError(self->table, credential);
    if (app == NULL && PyErr_Occurred())
        return NULL;
    Py_XINCREF(app);
    PyObject *grants = NULL, *stages = NULL;
    if (app != NULL && (PyObject *)Py_TYPE(app) == self->app_type && SLOT(app, S_GRANTS) != NULL
        && PyDict_CheckExact(SLOT(app, S_GRANTS))) {
        grants = Py_NewRef(SLOT(app, S_GRANTS));
        stages = PyDict_GetItemWithError(grants, api_id);
        if (stages == NULL && PyErr_Occurred()) {
            Py_DECREF(grants);
            Py_DECREF(app);
            return NULL;
        }
        Py_XINCREF(stages);
    }
    Entry e;
    int fill = stages != NULL && flat_entry(&e, credential, api_id, app, self->app_type, stages);
    PyObject *dropped = NULL;
    int rc = 0;
    if (fill)
        rc = flat_store(&self->flat, &e, &dropped);
    else {
        Py_hash_t h = flat_hash(credential, api_id);
        Py_ssize_t j = flat_find(&self->flat, h, c, clen, a, alen);
        if (j >= 0)
            dropped = flat_remove(&self->flat, (size_t)j);
    }
    /* rc < 0 (out of memory) only when inserting: the pair had no entry, none is stale */
    Py_XDECREF(stages);
    Py_XDECREF(grants);
    Py_XDECREF(app);
    Py_XDECREF(dropped);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Checker.rebuild(): every entry again from the dicts (after a bulk load). */
static PyObject *
checker_rebuild(Checker *self, PyObject *Py_UNUSED(ignored))
{
    flat_clear(&self->flat);
    Py_ssize_t pos = 0;
    PyObject *credential, *app;
    size_t pairs = 0; /* an upper bound of the entries: room for all at once, no rehashing */
    while (PyDict_Next(self->table, &pos, &credential, &app))
        if ((PyObject *)Py_TYPE(app) == self->app_type && SLOT(app, S_GRANTS) != NULL
            && PyDict_CheckExact(SLOT(app, S_GRANTS)))
            pairs += (size_t)PyDict_GET_SIZE(SLOT(app, S_GRANTS));
    if (pairs && flat_reserve(&self->flat, pairs) < 0)
        return NULL;
    pos = 0;
    while (PyDict_Next(self->table, &pos, &credential, &app)) {
        if ((PyObject *)Py_TYPE(app) != self->app_type || SLOT(app, S_GRANTS) == NULL)
            continue;
        PyObject *grants = SLOT(app, S_GRANTS);
        if (!PyDict_CheckExact(grants))
            continue;
        Py_ssize_t gpos = 0;
        PyObject *api_id, *stages;
        while (PyDict_Next(grants, &gpos, &api_id, &stages)) {
            Entry e;
            PyObject *dropped = NULL;
            if (!flat_entry(&e, credential, api_id, app, self->app_type, stages))
                continue;
            if (flat_store(&self->flat, &e, &dropped) < 0) {
                flat_clear(&self->flat); /* a partial table is still correct; an empty one is simplest */
                return NULL;
            }
            /* dropped stays NULL: each (credential, api) pair comes once */
            Py_XDECREF(dropped);
        }
    }
    Py_RETURN_NONE;
}

/* Checker.flat_items(): [(credential, api_id, app, (end or None per standard stage))] -
 * what the table holds, for tests (incremental == rebuilt). */
static PyObject *
checker_flat_items(Checker *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (size_t k = 0; k < self->flat.n; k++) {
        const Entry *e = &self->flat.entries[k];
        PyObject *ends = PyTuple_New(N_STAGES);
        if (ends == NULL)
            goto error;
        for (int i = 0; i < N_STAGES; i++) {
            PyObject *v = (e->present >> i) & 1 ? PyFloat_FromDouble(e->end[i]) : Py_NewRef(Py_None);
            if (v == NULL) {
                Py_DECREF(ends);
                goto error;
            }
            PyTuple_SET_ITEM(ends, i, v);
        }
        PyObject *item = Py_BuildValue("(s#s#ON)", e->key, (Py_ssize_t)e->clen, e->key + e->clen,
                                       (Py_ssize_t)e->alen, e->app, ends);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            goto error;
        }
        Py_DECREF(item);
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

/* Checker.flat_size(): (entries, slots) - for tests and memory figures. */
static PyObject *
checker_flat_size(Checker *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("nn", (Py_ssize_t)self->flat.n, (Py_ssize_t)(self->flat.slots ? self->flat.mask + 1 : 0));
}

/* The end of a decision once the grant's end is known: ``at`` as epoch seconds (through
 * ``epoch`` unless a float, as the reference does), then allowed or expired. Owns nothing. */
static PyObject *
decide(Checker *self, PyObject *app, double e, PyObject *at, PyObject *const *args, size_t nargsf,
       PyObject *kwnames)
{
    double t;
    if (PyFloat_CheckExact(at)) {
        t = PyFloat_AS_DOUBLE(at);
    }
    else {
        PyObject *converted = PyObject_CallOneArg(self->epoch, at);
        if (converted == NULL)
            return NULL;
        if (!PyFloat_CheckExact(converted)) { /* epoch() returns floats; anything else: the reference */
            Py_DECREF(converted);
            return fallback(self, args, nargsf, kwnames);
        }
        t = PyFloat_AS_DOUBLE(converted);
        Py_DECREF(converted);
    }
    if (t < e) {
        PyObject *allowed = SLOT(app, S_ALLOWED);
        return allowed != NULL ? Py_NewRef(allowed) : fallback(self, args, nargsf, kwnames);
    }
    return denial(app, S_EXPIRED);
}

/* The app's answer when its every slot is set and it is not blocked; else NULL with
 * *result set (the blocked decision, or the reference's answer). */
static int
app_usable(Checker *self, PyObject *app, PyObject **result, PyObject *const *args, size_t nargsf,
           PyObject *kwnames)
{
    for (int i = 0; i < S_COUNT; i++)
        if (SLOT(app, i) == NULL) { /* the reference raises AttributeError */
            *result = fallback(self, args, nargsf, kwnames);
            return 0;
        }
    PyObject *blocked = SLOT(app, S_BLOCKED);
    if (blocked != Py_None) {
        *result = Py_NewRef(blocked);
        return 0;
    }
    return 1;
}

/* A prebuilt decision whose truth test runs no code (an exact Decision: no __bool__, no
 * __len__, checked at construction), else NULL: the dict path then builds it (app.deny). */
static PyObject *
ready(Checker *self, PyObject *decision)
{
    return decision != NULL && Py_TYPE(decision) == Py_TYPE(self->unknown) ? decision : NULL;
}

/* The flat table's answer: 1 and *result (NULL: an error is set) when the pair has an
 * entry and the stage is a standard one; 0 to take the dict path (also for anything
 * unusual: an unset slot, a denial not built yet). With a float ``at`` it runs no Python
 * code, so it reads the entry and the _App without holding references. */
static int
flat_check(Checker *self, PyObject *credential, PyObject *api_id, PyObject *stage, PyObject *at,
           PyObject **result, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t clen = 0, alen = 0;
    const char *c = ascii_bytes(credential, &clen), *a = ascii_bytes(api_id, &alen);
    if (c == NULL || a == NULL)
        return 0;
    Py_ssize_t j = flat_find(&self->flat, flat_hash(credential, api_id), c, clen, a, alen);
    if (j < 0)
        return 0;
    int i = stage_index(stage);
    if (i < 0)
        return 0;
    const Entry *entry = &self->flat.entries[(uint32_t)self->flat.slots[j] - 1];
    PyObject *app = entry->app, *d;
    PyObject *blocked = SLOT(app, S_BLOCKED);
    if (blocked == NULL || SLOT(app, S_GRANTS) == NULL) /* the reference raises AttributeError */
        return 0;
    if (blocked != Py_None)
        d = blocked;
    else if (!((entry->present >> i) & 1))
        d = ready(self, SLOT(app, S_STAGE_NOT_AUTH));
    else if (PyFloat_CheckExact(at))
        d = PyFloat_AS_DOUBLE(at) < entry->end[i] ? SLOT(app, S_ALLOWED) : ready(self, SLOT(app, S_EXPIRED));
    else { /* epoch(at) is Python code: hold the app, copy the end, then decide */
        double e = entry->end[i];
        Py_INCREF(app);
        *result = decide(self, app, e, at, args, nargsf, kwnames);
        Py_DECREF(app);
        return 1;
    }
    if (d == NULL)
        return 0;
    *result = Py_NewRef(d);
    return 1;
}

static PyObject *
checker_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Checker *self = (Checker *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *at = Py_None;
    int have_at = nargs == 4;

    if (nargs < 3 || nargs > 4)
        return fallback(self, args, nargsf, kwnames);
    if (nargs == 4)
        at = args[3];
    if (kwnames != NULL) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nk; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            PyObject *value = args[nargs + i];
            if (self->by_key && name == state.str_kind && PyUnicode_CheckExact(value)
                && PyUnicode_Compare(value, state.str_app_key) == 0)
                continue;
            if (name == state.str_at && !have_at) {
                at = value;
                have_at = 1;
                continue;
            }
            return fallback(self, args, nargsf, kwnames);
        }
    }
    if (!have_at && !self->by_key) /* check_app: at is required */
        return fallback(self, args, nargsf, kwnames);
    PyObject *credential = args[0], *api_id = args[1], *stage = args[2];
    if (!PyUnicode_CheckExact(credential) || !PyUnicode_CheckExact(api_id) || !PyUnicode_CheckExact(stage))
        return fallback(self, args, nargsf, kwnames);

    PyObject *result = NULL;
    if (self->flat.n && flat_check(self, credential, api_id, stage, at, &result, args, nargsf, kwnames))
        return result;

    PyObject *app = PyDict_GetItemWithError(self->table, credential); /* borrowed */
    if (app == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return Py_NewRef(self->unknown);
    }
    if ((PyObject *)Py_TYPE(app) != self->app_type)
        return fallback(self, args, nargsf, kwnames);
    Py_INCREF(app); /* the dict may change while Python code (deny, epoch, __eq__) runs */
    PyObject *grants = NULL, *stages = NULL;
    if (!app_usable(self, app, &result, args, nargsf, kwnames))
        goto done;
    grants = Py_NewRef(SLOT(app, S_GRANTS)); /* held: a lookup may run Python code (__eq__) */
    if (!PyDict_CheckExact(grants)) {
        result = fallback(self, args, nargsf, kwnames);
        goto done;
    }
    stages = PyDict_GetItemWithError(grants, api_id);
    if (stages == NULL) {
        if (PyErr_Occurred())
            goto done;
        int known = PyDict_Contains(self->apis, api_id);
        if (known < 0)
            goto done;
        result = denial(app, known ? S_NOT_AUTH : S_UNKNOWN_API);
        goto done;
    }
    Py_INCREF(stages);
    if (!PyDict_CheckExact(stages)) {
        result = fallback(self, args, nargsf, kwnames);
        goto done;
    }
    PyObject *end = PyDict_GetItemWithError(stages, stage);
    if (end == NULL) {
        if (PyErr_Occurred())
            goto done;
        result = denial(app, S_STAGE_NOT_AUTH);
        goto done;
    }
    if (!PyFloat_CheckExact(end)) {
        result = fallback(self, args, nargsf, kwnames);
        goto done;
    }
    result = decide(self, app, PyFloat_AS_DOUBLE(end), at, args, nargsf, kwnames);
done:
    Py_XDECREF(stages);
    Py_XDECREF(grants);
    Py_DECREF(app);
    return result;
}

static int
checker_traverse(Checker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->table);
    Py_VISIT(self->apis);
    Py_VISIT(self->app_type);
    Py_VISIT(self->unknown);
    Py_VISIT(self->epoch);
    Py_VISIT(self->reference);
    for (size_t k = 0; k < self->flat.n; k++)
        Py_VISIT(self->flat.entries[k].app);
    return 0;
}

static int
checker_clear(Checker *self)
{
    Py_CLEAR(self->table);
    Py_CLEAR(self->apis);
    Py_CLEAR(self->app_type);
    Py_CLEAR(self->unknown);
    Py_CLEAR(self->epoch);
    Py_CLEAR(self->reference);
    flat_clear(&self->flat);
    return 0;
}

static void
checker_dealloc(Checker *self)
{
    PyObject_GC_UnTrack(self);
    checker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
checker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"table", "apis", "app_type", "unknown", "epoch", "reference", "by_key", NULL};
    PyObject *table, *apis, *app_type, *unknown, *epoch, *reference;
    int by_key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!OOOOp:Checker", kwlist, &PyDict_Type, &table,
                                     &PyDict_Type, &apis, &app_type, &unknown, &epoch, &reference, &by_key))
        return NULL;
    if (!PyDict_CheckExact(table) || !PyDict_CheckExact(apis)) {
        PyErr_SetString(PyExc_TypeError, "Checker needs exact dicts");
        return NULL;
    }
    if (load_offsets(app_type) < 0)
        return NULL;
    PyTypeObject *dt = Py_TYPE(unknown); /* the flat path returns decisions without a truth test */
    if ((dt->tp_as_number && dt->tp_as_number->nb_bool) || (dt->tp_as_mapping && dt->tp_as_mapping->mp_length)
        || (dt->tp_as_sequence && dt->tp_as_sequence->sq_length)) {
        PyErr_SetString(PyExc_TypeError, "the decision type must not define __bool__ or __len__");
        return NULL;
    }
    Checker *self = (Checker *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = checker_call;
    self->table = Py_NewRef(table);
    self->apis = Py_NewRef(apis);
    self->app_type = Py_NewRef(app_type);
    self->unknown = Py_NewRef(unknown);
    self->epoch = Py_NewRef(epoch);
    self->reference = Py_NewRef(reference);
    self->by_key = by_key;
    return (PyObject *)self;
}

static PyMethodDef checker_methods[] = {
    {"sync", (PyCFunction)(void (*)(void))checker_sync, METH_FASTCALL,
     "sync(credential, api_id): recompute the pair's flat-table entry from the dicts"},
    {"rebuild", (PyCFunction)checker_rebuild, METH_NOARGS, "recompute the whole flat table from the dicts"},
    {"flat_size", (PyCFunction)checker_flat_size, METH_NOARGS, "(entries, slots) of the flat table"},
    {"flat_items", (PyCFunction)checker_flat_items, METH_NOARGS,
     "[(credential, api_id, app, ends per standard stage)]: the flat table's entries"},
    {NULL},
};

static PyMemberDef checker_members[] = {
    {"reference", T_OBJECT, offsetof(Checker, reference), READONLY, "the Python method this answers like"},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Checker, vectorcall), READONLY},
    {NULL},
};

static PyTypeObject CheckerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "projections._check.Checker",
    .tp_basicsize = sizeof(Checker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "AuthIndex.check / check_app in C (projections/_check.c); falls back to the reference.",
    .tp_new = checker_new,
    .tp_dealloc = (destructor)checker_dealloc,
    .tp_traverse = (traverseproc)checker_traverse,
    .tp_clear = (inquiry)checker_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Checker, vectorcall),
    .tp_members = checker_members,
    .tp_methods = checker_methods,
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "projections._check",
    "AuthIndex.check / check_app in C: the same answers as the Python reference.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__check(void)
{
    state.str_deny = PyUnicode_InternFromString("deny");
    state.str_app_key = PyUnicode_InternFromString("app_key");
    state.str_at = PyUnicode_InternFromString("at");
    state.str_kind = PyUnicode_InternFromString("kind");
    if (!state.str_deny || !state.str_app_key || !state.str_at || !state.str_kind)
        return NULL;
    static const char *stages[N_STAGES] = {"RELEASE", "PRE", "TEST"};
    for (int i = 0; i < N_STAGES; i++)
        if ((state.stage_names[i] = PyUnicode_InternFromString(stages[i])) == NULL)
            return NULL;
    for (int i = S_EXPIRED; i < S_COUNT; i++) {
        state.deny_names[i] = PyUnicode_InternFromString(slot_names[i]);
        if (state.deny_names[i] == NULL)
            return NULL;
    }
    if (PyType_Ready(&CheckerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Checker", (PyObject *)&CheckerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
