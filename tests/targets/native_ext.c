/* A C extension for tests/native.rs: native_ext.call(cb) calls cb() from C (Python -> C -> Python).
 * Built by the test from the interpreter's own headers. */
#include <Python.h>

static PyObject *call(PyObject *self, PyObject *cb) {
    PyObject *r = PyObject_CallObject(cb, NULL);
    return r;
}

static PyMethodDef methods[] = {{"call", call, METH_O, "call cb() from C"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "native_ext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_native_ext(void) { return PyModule_Create(&def); }
