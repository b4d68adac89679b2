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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
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

    PyObject *app = PyDict_GetItemWithError(self->table, credential); /* borrowed */
    if (app == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return Py_NewRef(self->unknown);
    }
    if ((PyObject *)Py_TYPE(app) != self->app_type)
        return fallback(self, args, nargsf, kwnames);
    for (int i = 0; i < S_COUNT; i++)
        if (SLOT(app, i) == NULL) /* the reference raises AttributeError */
            return fallback(self, args, nargsf, kwnames);
    Py_INCREF(app); /* the dict may change while Python code (deny, epoch) runs */
    PyObject *result = NULL, *grants = NULL, *stages = NULL;
    PyObject *blocked = SLOT(app, S_BLOCKED);
    if (blocked != Py_None) {
        result = Py_NewRef(blocked);
        goto done;
    }
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
    double e = PyFloat_AS_DOUBLE(end), t;
    if (PyFloat_CheckExact(at)) {
        t = PyFloat_AS_DOUBLE(at);
    }
    else {
        Py_INCREF(end);
        PyObject *converted = PyObject_CallOneArg(self->epoch, at);
        Py_DECREF(end);
        if (converted == NULL)
            goto done;
        if (!PyFloat_CheckExact(converted)) { /* epoch() returns floats; anything else: the reference */
            Py_DECREF(converted);
            result = fallback(self, args, nargsf, kwnames);
            goto done;
        }
        t = PyFloat_AS_DOUBLE(converted);
        Py_DECREF(converted);
    }
    if (t < e) {
        PyObject *allowed = SLOT(app, S_ALLOWED);
        result = allowed != NULL ? Py_NewRef(allowed) : fallback(self, args, nargsf, kwnames);
    }
    else
        result = denial(app, S_EXPIRED);
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
