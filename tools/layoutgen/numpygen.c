/*
 * numpygen: print the [numpy1] or [numpy2] section of python-layouts/numpy.toml for the numpy header
 * set it is compiled against: what an outside reader needs to recompute numpy.ndarray.__sizeof__.
 *
 *   gcc -I<python include dir> -I<numpy.get_include()> -o numpygen numpygen.c
 *   ./numpygen --section     -> "numpy1" or "numpy2" (from NPY_ABI_VERSION's major byte)
 *   ./numpygen --api         -> NPY_API_VERSION of the headers (provenance only: it changes with
 *                               every numpy minor, the layout below does not)
 *   ./numpygen               -> the TOML section text
 *
 * Every offset/size is offsetof()/sizeof() on numpy's own structs (PyArrayObject_fields,
 * PyArray_Descr); flag values are numpy's macros. Run through tools/layoutgen/numpy.sh; never edit
 * the generated file by hand.
 *
 * The rule (the same in numpy 1.26.4, 2.0.2, 2.2.6, 2.4.6, 2.5.2 and main):
 *   numpy/core/src/multiarray/methods.c@v1.26.4 array_sizeof (L2365-2374),
 *   numpy/_core/src/multiarray/methods.c@v2.0.2 array_sizeof (L2299-2308), @v2.5.2 (L2336-2345):
 *     nbytes = Py_TYPE(self)->tp_basicsize + PyArray_NDIM(self) * sizeof(npy_intp) * 2;
 *     if (PyArray_CHKFLAGS(self, NPY_ARRAY_OWNDATA)) nbytes += PyArray_NBYTES(self);
 *   PyArray_NBYTES(m) = PyArray_ITEMSIZE(m) * PyArray_SIZE(m)        (ndarrayobject.h)
 *   PyArray_SIZE(m)   = PyArray_MultiplyList(PyArray_DIMS(m), PyArray_NDIM(m))  (product; 1 for 0-d)
 *   PyArray_ITEMSIZE  = descr->elsize (1.x: int; 2.x: npy_intp, PyDataType_ELSIZE)
 * tp_basicsize is the object's own type's (subclasses such as np.matrix may differ from ndarray's);
 * sys.getsizeof adds the GC header / pre-header as for any object (ndarray itself is not GC; Python
 * subclasses are).
 */
#include <Python.h>
/* Compile against the header set's own API level, so PyArray_Descr is the full struct of that major
 * (numpy 2 headers default to a 1.x-compatible PyArray_Descr without elsize). NPY_API_VERSION is
 * defined by numpy/_numpyconfig.h before numpyconfig.h evaluates NPY_TARGET_VERSION. */
#define NPY_TARGET_VERSION NPY_API_VERSION
#define NPY_NO_DEPRECATED_API NPY_API_VERSION
#include <numpy/ndarraytypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if !defined(NPY_ABI_VERSION)
#  error "numpy headers without NPY_ABI_VERSION"
#endif
#define NG_MAJOR (NPY_ABI_VERSION >> 24)
#if NG_MAJOR != 1 && NG_MAJOR != 2
#  error "numpygen knows numpy 1.x and 2.x header sets only"
#endif
#if defined(Py_TARGET_ABI3T) || defined(Py_GIL_DISABLED)
#  error "free-threaded / abi3t header sets are not supported"
#endif

static void u(const char *k, unsigned long long v) { printf("%s = %llu\n", k, v); }

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--section") == 0) {
        printf("numpy%d\n", (int)NG_MAJOR);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--api") == 0) { /* for the provenance line only */
        printf("0x%08x\n", (unsigned)NPY_API_VERSION);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--section | --api]\n", argv[0]);
        return 2;
    }
    PyArray_Descr d;
    printf("[numpy%d]\n", (int)NG_MAJOR);
    u("numpy_major", NG_MAJOR);
    printf("abi_version = 0x%08x\n", (unsigned)NPY_ABI_VERSION);
    u("sizeof_npy_intp", sizeof(npy_intp));
    printf("# PyArrayObject_fields (ndarray instance; ndarraytypes.h)\n");
    u("array_data", offsetof(PyArrayObject_fields, data));
    u("array_nd", offsetof(PyArrayObject_fields, nd));
    u("array_nd_size", sizeof(((PyArrayObject_fields *)0)->nd));
    u("array_dimensions", offsetof(PyArrayObject_fields, dimensions));
    u("array_strides", offsetof(PyArrayObject_fields, strides));
    u("array_base", offsetof(PyArrayObject_fields, base));
    u("array_descr", offsetof(PyArrayObject_fields, descr));
    u("array_flags", offsetof(PyArrayObject_fields, flags));
    u("array_flags_size", sizeof(((PyArrayObject_fields *)0)->flags));
    printf("# sizeof(PyArrayObject_fields) = numpy.ndarray's tp_basicsize; read tp_basicsize from the object's type\n");
    u("sizeof_array_fields", sizeof(PyArrayObject_fields));
    u("array_owndata", NPY_ARRAY_OWNDATA);
    printf("# PyArray_Descr (dtype instance): elsize is %s\n", NG_MAJOR == 1 ? "int" : "npy_intp");
    u("descr_typeobj", offsetof(PyArray_Descr, typeobj));
    u("descr_type_num", offsetof(PyArray_Descr, type_num));
    u("descr_elsize", offsetof(PyArray_Descr, elsize));
    u("descr_elsize_size", sizeof(d.elsize));
    printf("sizeof_rule = \"tp_basicsize + nd * 2 * sizeof_npy_intp + (flags & array_owndata ? "
           "elsize * product(dimensions[0..nd]) : 0)\"\n");
    return 0;
}
