/* pcapline.read._native: the read stage's per-record loops in C (optional).
 *
 * The Python walkers in pcap.py and pcapng.py are the reference implementation: every
 * function here does exactly what one of their loops does, only without one interpreted
 * iteration per record (about 0.8 us each; 2 s on a 2.5 M-packet capture). They return
 * plain Python objects (bytearray of int64 offsets, ints) that the callers wrap with numpy;
 * no numpy C API, so the module builds against any numpy.
 *
 * Captures are untrusted input: every read is checked against the buffer's length before
 * it happens, and the arithmetic on lengths from the file is arranged so it cannot
 * overflow (a length is compared with "size - offset", never added to an offset first).
 * tests/read/test_native.py runs both implementations over sample, corpus and
 * hypothesis-generated damaged captures and requires identical results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A 32-bit word of the capture at p, in the file's byte order (byte by byte: no alignment
 * or host byte order assumptions). */
static uint32_t
word32(const unsigned char *p, int big_endian)
{
    if (big_endian)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* A growing array of int64 offsets (the records found so far). */
typedef struct {
    int64_t *items;
    Py_ssize_t len;
    Py_ssize_t cap;
} Offsets;

/* Append one offset; -1 (no Python error set: the caller holds no GIL) when out of memory. */
static int
offsets_append(Offsets *o, int64_t value)
{
    if (o->len == o->cap) {
        Py_ssize_t cap = o->cap ? o->cap * 2 : 4096;
        int64_t *items;
        if ((size_t)cap > PY_SSIZE_T_MAX / sizeof(int64_t))
            return -1;
        items = realloc(o->items, (size_t)cap * sizeof(int64_t));
        if (items == NULL)
            return -1;
        o->items = items;
        o->cap = cap;
    }
    o->items[o->len++] = value;
    return 0;
}

/* The offsets as a bytearray (what numpy.frombuffer(..., int64) reads, writable like the
 * array('q') the Python walkers build); frees the C array. */
static PyObject *
offsets_finish(Offsets *o)
{
    PyObject *out = PyByteArray_FromStringAndSize(
        (const char *)o->items, o->len * (Py_ssize_t)sizeof(int64_t));
    free(o->items);
    o->items = NULL;
    return out;
}

/* walk_pcap(data, big_endian, rec_len, first, final, max_len) -> (offsets, stop, end)
 *
 * read/pcap.py::_walk_python: the offset of every classic pcap record header from `first`
 * on, following only each record's incl_len. `stop` is the incl_len that stopped the walk
 * (bigger than max_len: a damaged file), else None; `end` is where the next window starts.
 * Outside the `final` window a record cut by the window's end is left for the next one;
 * in the final window a record header the file ends in is still a record. */
static PyObject *
walk_pcap(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    int big_endian, final;
    Py_ssize_t rec_len, first;
    unsigned long max_len;
    if (!PyArg_ParseTuple(args, "y*pnnpk", &view, &big_endian, &rec_len, &first, &final,
                          &max_len))
        return NULL;
    /* A negative start would read before the buffer; the bounds keep "off += rec_len +
     * incl" from overflowing (see the loop). pcap.py passes 16 or 24 and 262144. */
    if (first < 0 || rec_len < 16 || rec_len > 1024 || max_len > (1UL << 30)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "walk_pcap: first >= 0, 16 <= rec_len <= 1024, max_len <= 2**30");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    const Py_ssize_t size = view.len;
    Offsets offsets = {NULL, 0, 0};
    Py_ssize_t off = first;
    int stopped = 0, no_memory = 0, pop_empty = 0, overflow = 0;
    uint32_t stop_len = 0;

    Py_BEGIN_ALLOW_THREADS
    /* The loop reads bytes off+8..off+11 (incl_len), so it runs while a 16-byte classic
     * record header fits: off <= size - 16, written so that it cannot overflow. */
    while (size >= 16 && off <= size - 16) {
        uint32_t incl = word32(buf + off + 8, big_endian);
        if (incl > max_len) {
            stopped = 1;
            stop_len = incl;
            break;
        }
        if (offsets_append(&offsets, off) < 0) {
            no_memory = 1;
            break;
        }
        /* off <= size, rec_len <= 1024 and incl <= max_len <= 1 GiB: the sum overflows
         * only a 32-bit Py_ssize_t, and only for a buffer of nearly 2 GiB; refuse it. */
        if ((Py_ssize_t)incl > PY_SSIZE_T_MAX - rec_len - off) {
            overflow = 1;
            break;
        }
        off += rec_len + (Py_ssize_t)incl;
    }
    if (!stopped && !no_memory && !overflow) {
        if (off > size && !final) {
            /* Its captured bytes are cut by the window: the next window's first record. */
            if (offsets.len == 0)
                pop_empty = 1;
            else
                off = offsets.items[--offsets.len];
        }
        else if (off < size && final) {
            /* The file ends inside this record header: a frame whose header is cut. */
            if (offsets_append(&offsets, off) < 0)
                no_memory = 1;
        }
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&view);
    if (no_memory || pop_empty || overflow) {
        free(offsets.items);
        if (pop_empty) /* what array.pop() says in the Python walker */
            PyErr_SetString(PyExc_IndexError, "pop from empty array");
        else if (overflow)
            PyErr_SetString(PyExc_OverflowError, "walk_pcap: record offset overflows");
        else
            PyErr_NoMemory();
        return NULL;
    }
    PyObject *found = offsets_finish(&offsets);
    if (found == NULL)
        return NULL;
    if (stopped)
        return Py_BuildValue("(Nkn)", found, (unsigned long)stop_len, off);
    return Py_BuildValue("(NOn)", found, Py_None, off);
}

/* epb_run(data, off, big_endian, max_len) -> (offsets, end)
 *
 * read/pcapng.py::PcapngWalker._walk's common case, repeated: from `off`, the offsets of
 * consecutive complete Enhanced Packet Blocks (type 6, 32 <= length <= max_len, a multiple
 * of 4, wholly inside the buffer). Stops at the first block that is anything else (or where
 * fewer than 8 bytes are left) and returns its offset; the Python walker handles that
 * block. */
static PyObject *
epb_run(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    Py_ssize_t off;
    int big_endian;
    unsigned long max_len;
    if (!PyArg_ParseTuple(args, "y*npk", &view, &off, &big_endian, &max_len))
        return NULL;
    if (off < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "epb_run: off >= 0 required");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    const Py_ssize_t size = view.len;
    Offsets offsets = {NULL, 0, 0};
    int no_memory = 0;

    Py_BEGIN_ALLOW_THREADS
    /* Block type and total length are the first 8 bytes: read only while they fit. */
    while (size >= 8 && off <= size - 8) {
        uint32_t btype = word32(buf + off, big_endian);
        uint32_t blen = word32(buf + off + 4, big_endian);
        /* The Python walker's test for a complete EPB, in the same order; the last
         * comparison is "off + blen <= size" without the addition. */
        if (!(btype == 6 && blen >= 32 && blen <= max_len && !(blen & 3)
              && (Py_ssize_t)blen <= size - off))
            break;
        if (offsets_append(&offsets, off) < 0) {
            no_memory = 1;
            break;
        }
        off += (Py_ssize_t)blen;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&view);
    if (no_memory) {
        free(offsets.items);
        return PyErr_NoMemory();
    }
    PyObject *found = offsets_finish(&offsets);
    if (found == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", found, off);
}

/* gather_rows(data, pos, width, out) -> bool
 *
 * read/capture.py::gather_rows: copies the `width` bytes at each position of `pos` (native
 * int64) from `data` into row i of `out` (n * width bytes, writable). Returns False, having
 * copied some rows or none, when a position is outside 0 .. len(data) - width: the caller
 * then takes the numpy path, so out-of-range positions behave exactly as they do there. */
static PyObject *
gather_rows(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data, pos, out;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*y*nw*", &data, &pos, &width, &out))
        return NULL;
    const Py_ssize_t n = pos.len / (Py_ssize_t)sizeof(int64_t);
    /* The shapes must agree, or a row would be copied past the end of `out`. */
    if (width <= 0 || pos.len % (Py_ssize_t)sizeof(int64_t) != 0 || n > PY_SSIZE_T_MAX / width
        || out.len != n * width) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&pos);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "gather_rows: out must hold len(pos) rows of width");
        return NULL;
    }
    const unsigned char *src = data.buf;
    const unsigned char *at = pos.buf;
    unsigned char *dst = out.buf;
    const Py_ssize_t last = data.len - width; /* the last position a whole row fits at */
    int in_range = 1;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p;
        memcpy(&p, at + i * (Py_ssize_t)sizeof(int64_t), sizeof p); /* pos may be unaligned */
        if (p < 0 || p > (int64_t)last) {
            in_range = 0;
            break;
        }
        memcpy(dst + i * width, src + p, (size_t)width);
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    PyBuffer_Release(&pos);
    PyBuffer_Release(&out);
    return PyBool_FromLong(in_range);
}

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS,
     "Offsets of classic pcap records (read/pcap.py::_walk_python, in C)."},
    {"epb_run", epb_run, METH_VARARGS,
     "Offsets of a run of complete pcapng Enhanced Packet Blocks."},
    {"gather_rows", gather_rows, METH_VARARGS,
     "Copy fixed-width rows at positions into an output buffer; False when out of range."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "pcapline.read._native",
    "The read stage's record walkers in C (optional; see pcapline.read.native).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&module);
}
