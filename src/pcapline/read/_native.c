/* pcapline.read._native: the read stage's per-record loops and the facts stage's scans in C
 * (optional).
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
#include <sys/random.h>
#include <time.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <errno.h>

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

/* ------------------------------------------------------------------------------------------
 * Whole-capture scans of facts.py and duplicates.py.
 *
 * numpy does each of these as several full passes (a gather into direction order, a cumsum
 * or ufunc.accumulate, a repeat, a scatter back: each one a new array of every segment);
 * here each is one walk over the rows. They hold no TCP rule: facts.py says what is scanned
 * and why, and keeps the numpy version of each scan as the reference (tests/test_facts_native.py
 * runs both over real captures and requires identical columns).
 *
 * Arrays arrive as raw buffers (int64 columns; bool columns as one byte each) whose lengths
 * are checked here; every row index read from one is checked against the row count before
 * it is used, so a wrong caller gets a ValueError, never a read out of bounds.
 */

/* A buffer holding exactly n values of `size` bytes. */
static int
check_len(Py_buffer *b, Py_ssize_t n, Py_ssize_t size, const char *what)
{
    if (b->len != n * size) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", what, b->len, n * size);
        return -1;
    }
    return 0;
}

static void
release_all(Py_buffer **views, int count)
{
    for (int i = 0; i < count; i++)
        if (views[i]->obj != NULL)
            PyBuffer_Release(views[i]);
}

/* The kernel's (s32) of a difference: two's complement wrap into [-2**31, 2**31)
 * (seqnum.signed). */
static inline int64_t
signed32(int64_t delta)
{
    return (int64_t)(int32_t)(uint32_t)(uint64_t)delta;
}

/* The end of a function that filled its `out` buffer: release every view, then None, or
 * NULL with the error already set (release_all skips views never acquired). */
static PyObject *
finish(Py_buffer **views, int count, int ok)
{
    release_all(views, count);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
index_error(void)
{
    PyErr_SetString(PyExc_ValueError, "row or key index out of range");
    return NULL;
}

/* finish() for a function whose loop stops at the first row or key index out of range
 * (`bad`): the ValueError then. */
static PyObject *
finish_indexed(Py_buffer **views, int count, int bad)
{
    if (bad)
        index_error(); /* sets the ValueError */
    return finish(views, count, !bad);
}

/* unwrap_runs(values, run_base, keys, order, valid, out) -> None
 *
 * facts.py::_unwrap (seqnum.unwrap per direction): walks the rows in `order`, skipping rows
 * whose `valid` byte is 0; a run is the valid rows of one key. A run's first row gets
 * signed(values - run_base[key]), each later row the previous row's result plus
 * signed(values - previous value). Writes `out` at valid rows only. */
static PyObject *
unwrap_runs(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, run_base = {0}, keys = {0}, order = {0}, valid = {0}, out = {0};
    Py_buffer *all[] = {&values, &run_base, &keys, &order, &valid, &out};
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*", &values, &run_base, &keys, &order, &valid, &out))
        goto fail;
    const Py_ssize_t n = values.len / 8, n_keys = run_base.len / 8;
    if (check_len(&values, n, 8, "values") || check_len(&run_base, n_keys, 8, "run_base")
        || check_len(&keys, n, 8, "keys") || check_len(&order, n, 8, "order")
        || check_len(&valid, n, 1, "valid") || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *base = run_base.buf, *k = keys.buf, *o = order.buf;
    const unsigned char *ok = valid.buf;
    int64_t *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t prev_key = -1, prev_value = 0, total = 0;
    int started = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t i = o[j];
        if (i < 0 || i >= n) { bad = 1; break; }
        if (!ok[i])
            continue;
        int64_t key = k[i];
        if (key < 0 || key >= n_keys) { bad = 1; break; }
        if (!started || key != prev_key)
            total = signed32(v[i] - base[key]);
        else
            total += signed32(v[i] - prev_value);
        dst[i] = total;
        prev_key = key;
        prev_value = v[i];
        started = 1;
    }
    Py_END_ALLOW_THREADS
    return finish_indexed(all, 6, bad);
fail:
    return finish(all, 6, 0);
}

/* exclusive_running_max(values, keys, order, fallback, out) -> None
 *
 * facts.py::_exclusive_running_max: walks the rows in `order` (each key's rows together); at
 * each row, the max of `values` over the earlier rows of its key, `fallback` at a key's
 * first row. */
static PyObject *
exclusive_running_max(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, keys = {0}, order = {0}, fallback = {0}, out = {0};
    Py_buffer *all[] = {&values, &keys, &order, &fallback, &out};
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &values, &keys, &order, &fallback, &out))
        goto fail;
    const Py_ssize_t n = values.len / 8;
    if (check_len(&values, n, 8, "values") || check_len(&keys, n, 8, "keys")
        || check_len(&order, n, 8, "order") || check_len(&fallback, n, 8, "fallback")
        || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *k = keys.buf, *o = order.buf, *fb = fallback.buf;
    int64_t *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t prev_key = 0, run = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t i = o[j];
        if (i < 0 || i >= n) { bad = 1; break; }
        if (j == 0 || k[i] != prev_key) {
            dst[i] = fb[i];
            run = v[i];
        }
        else {
            dst[i] = run;
            if (v[i] > run)
                run = v[i];
        }
        prev_key = k[i];
    }
    Py_END_ALLOW_THREADS
    return finish_indexed(all, 5, bad);
fail:
    return finish(all, 5, 0);
}

/* peer_scan(values, valid, side, group, unknown, take_max, out) -> None
 *
 * facts.py::_peer_running_max / _peer_last: rows in order, each group's rows together (a
 * connection), `side` 0 or 1 per row (from_client). At each row: over the earlier rows of its
 * group sent by the other side whose `valid` byte is set, the largest value (take_max) or the
 * latest one; `unknown` when there is none. */
static PyObject *
peer_scan(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, valid = {0}, side = {0}, group = {0}, out = {0};
    Py_buffer *all[] = {&values, &valid, &side, &group, &out};
    long long unknown;
    int take_max;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Lpw*", &values, &valid, &side, &group, &unknown,
                          &take_max, &out))
        goto fail;
    const Py_ssize_t n = values.len / 8;
    if (check_len(&values, n, 8, "values") || check_len(&valid, n, 1, "valid")
        || check_len(&side, n, 1, "side") || check_len(&group, n, 8, "group")
        || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *g = group.buf;
    const unsigned char *ok = valid.buf, *s = side.buf;
    int64_t *dst = out.buf;
    Py_BEGIN_ALLOW_THREADS
    int64_t seen[2] = {0, 0}, prev_group = 0;
    int has[2] = {0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == 0 || g[i] != prev_group)
            has[0] = has[1] = 0;
        prev_group = g[i];
        const int mine = s[i] != 0;
        dst[i] = has[!mine] ? seen[!mine] : (int64_t)unknown;
        if (ok[i]) {
            if (!has[mine] || !take_max || v[i] > seen[mine])
                seen[mine] = v[i];
            has[mine] = 1;
        }
    }
    Py_END_ALLOW_THREADS
    return finish(all, 5, 1);
fail:
    return finish(all, 5, 0);
}

/* nearest_rows(group, side, own, peer, later, out) -> None
 *
 * detect/retransmit.py::_nearest_rows: rows in order, each group's rows together (a
 * connection), `side` 0 or 1 per row (from_client). At each row: the nearest row of its group
 * before it (later: after it) that is either sent by the same side with its `own` byte set or
 * sent by the other side with its `peer` byte set; -1 when there is none. */
static PyObject *
nearest_rows(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer group = {0}, side = {0}, own = {0}, peer = {0}, out = {0};
    Py_buffer *all[] = {&group, &side, &own, &peer, &out};
    int later;
    if (!PyArg_ParseTuple(args, "y*y*y*y*pw*", &group, &side, &own, &peer, &later, &out))
        goto fail;
    const Py_ssize_t n = group.len / 8;
    if (check_len(&group, n, 8, "group") || check_len(&side, n, 1, "side")
        || check_len(&own, n, 1, "own") || check_len(&peer, n, 1, "peer")
        || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *g = group.buf;
    const unsigned char *s = side.buf, *mine = own.buf, *theirs = peer.buf;
    int64_t *dst = out.buf;
    Py_BEGIN_ALLOW_THREADS
    /* found[k]: the nearest row so far that answers a row sent by side k. */
    int64_t found[2] = {-1, -1};
    const Py_ssize_t step = later ? -1 : 1;
    Py_ssize_t i = later ? n - 1 : 0;
    for (Py_ssize_t left = n; left > 0; left--, i += step) {
        if (left == n || g[i] != g[i - step])
            found[0] = found[1] = -1;
        const int k = s[i] != 0;
        dst[i] = found[k];
        if (mine[i])
            found[k] = i;
        if (theirs[i])
            found[!k] = i;
    }
    Py_END_ALLOW_THREADS
    return finish(all, 5, 1);
fail:
    return finish(all, 5, 0);
}

/* first_at_least(values, lo, hi, target, out) -> None
 *
 * facts.py::first_at_least: per query k, the first index in lo[k]:hi[k] where
 * `values` >= target[k] (hi[k]: none; lo[k] when the range is empty), by binary search
 * (`values` ascends within each queried range). */
static PyObject *
first_at_least(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, lo = {0}, hi = {0}, target = {0}, out = {0};
    Py_buffer *all[] = {&values, &lo, &hi, &target, &out};
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &values, &lo, &hi, &target, &out))
        goto fail;
    const Py_ssize_t n_values = values.len / 8, n = lo.len / 8;
    if (check_len(&values, n_values, 8, "values") || check_len(&lo, n, 8, "lo")
        || check_len(&hi, n, 8, "hi") || check_len(&target, n, 8, "target")
        || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *l = lo.buf, *h = hi.buf, *t = target.buf;
    int64_t *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++) {
        int64_t a = l[k], b = h[k];
        if (a < b && (a < 0 || b > n_values)) { bad = 1; break; }
        while (a < b) {
            const int64_t mid = a + (b - a) / 2;
            if (v[mid] < t[k])
                a = mid + 1;
            else
                b = mid;
        }
        dst[k] = a;
    }
    Py_END_ALLOW_THREADS
    return finish_indexed(all, 5, bad);
fail:
    return finish(all, 5, 0);
}

/* group_order(keys, n_keys, out) -> None
 *
 * facts.py::_grouped_order: the rows sorted by key (each in [0, n_keys)), each key's rows in
 * their given order (numpy's stable argsort): a counting sort, two walks instead of a
 * comparison sort. */
static PyObject *
group_order(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer keys = {0}, out = {0};
    Py_buffer *all[] = {&keys, &out};
    Py_ssize_t n_keys;
    if (!PyArg_ParseTuple(args, "y*nw*", &keys, &n_keys, &out))
        goto fail;
    const Py_ssize_t n = keys.len / 8;
    if (check_len(&keys, n, 8, "keys") || check_len(&out, n, 8, "out"))
        goto fail;
    if (n_keys < 0) {
        PyErr_SetString(PyExc_ValueError, "n_keys < 0");
        goto fail;
    }
    int64_t *next = PyMem_Calloc((size_t)n_keys + 1, sizeof(int64_t));
    if (next == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    const int64_t *k = keys.buf;
    int64_t *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (k[i] < 0 || k[i] >= n_keys) { bad = 1; break; }
        next[k[i] + 1]++;
    }
    if (!bad) {
        for (Py_ssize_t key = 0; key < n_keys; key++)
            next[key + 1] += next[key]; /* next[key]: where key's next row goes */
        for (Py_ssize_t i = 0; i < n; i++)
            dst[next[k[i]]++] = i;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(next);
    return finish_indexed(all, 2, bad);
fail:
    return finish(all, 2, 0);
}

/* partition_of(ip_version, src_hi, src_lo, dst_hi, dst_lo, sport, dport, count, out) -> None
 *
 * partitioned.py::partition_of in one walk (numpy makes some 25 passes over the columns):
 * per row (every column uint64, `out` int64), the splitmix64-style hash of its unordered
 * 4-tuple, low end first, modulo `count`. */
static inline uint64_t
absorb64(uint64_t h, uint64_t value)
{
    h = (h ^ value) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

static PyObject *
partition_of(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer version = {0}, src_hi = {0}, src_lo = {0}, dst_hi = {0}, dst_lo = {0};
    Py_buffer sport = {0}, dport = {0}, out = {0};
    Py_buffer *all[] = {&version, &src_hi, &src_lo, &dst_hi, &dst_lo, &sport, &dport, &out};
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*nw*", &version, &src_hi, &src_lo, &dst_hi,
                          &dst_lo, &sport, &dport, &count, &out))
        goto fail;
    const Py_ssize_t n = version.len / 8;
    if (check_len(&version, n, 8, "ip_version") || check_len(&src_hi, n, 8, "src_hi")
        || check_len(&src_lo, n, 8, "src_lo") || check_len(&dst_hi, n, 8, "dst_hi")
        || check_len(&dst_lo, n, 8, "dst_lo") || check_len(&sport, n, 8, "sport")
        || check_len(&dport, n, 8, "dport") || check_len(&out, n, 8, "out"))
        goto fail;
    if (count <= 0) {
        PyErr_SetString(PyExc_ValueError, "count <= 0");
        goto fail;
    }
    const uint64_t *ver = version.buf, *sh = src_hi.buf, *sl = src_lo.buf, *dh = dst_hi.buf;
    const uint64_t *dl = dst_lo.buf, *sp = sport.buf, *dp = dport.buf;
    int64_t *dst = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const int forward = sh[i] < dh[i]
            || (sh[i] == dh[i] && (sl[i] < dl[i] || (sl[i] == dl[i] && sp[i] <= dp[i])));
        uint64_t h = ver[i] + 1;
        h = absorb64(h, forward ? sh[i] : dh[i]);
        h = absorb64(h, forward ? dh[i] : sh[i]);
        h = absorb64(h, forward ? sl[i] : dl[i]);
        h = absorb64(h, forward ? dl[i] : sl[i]);
        h = absorb64(h, forward ? sp[i] : dp[i]);
        h = absorb64(h, forward ? dp[i] : sp[i]);
        dst[i] = (int64_t)(h % (uint64_t)count);
    }
    Py_END_ALLOW_THREADS
    return finish(all, 8, 1);
fail:
    return finish(all, 8, 0);
}

#define MAX_KEYS 16

/* first_seen_ids(columns, out) -> n_distinct
 *
 * flows.py::tuple_keys: each row's number among the distinct rows of `columns` (a tuple of
 * int64 columns), numbered in order of first appearance (pandas' groupby(sort=False).ngroup,
 * or pd.factorize of one column). One walk with an open-addressing hash table of the
 * distinct rows, which grows with them (not with the rows): where numpy needs a factorize
 * per packed column and one more of the pairs. */
static inline uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The hash of one row: its values (one per column) mixed in turn. */
static inline uint64_t
row_hash(const int64_t *values, Py_ssize_t n_cols)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (Py_ssize_t c = 0; c < n_cols; c++)
        h = mix64(h ^ (uint64_t)values[c]);
    return h;
}

/* Place distinct row `id` in a table of `mask + 1` slots (-1: empty). */
static inline void
slot_in(int64_t *slots, uint64_t mask, uint64_t h, int64_t id)
{
    uint64_t at = h & mask;
    while (slots[at] >= 0)
        at = (at + 1) & mask;
    slots[at] = id;
}

/* identical_pairs(keys, group, time_ns, window_ns, look_back) -> (later, earlier)
 *
 * duplicates.py::_identical_pairs: walks the rows (each connection's together, frame order
 * inside); a row pairs with the nearest row before it with the same `group` and every
 * column of `keys` (a tuple of int64 columns) equal, when that row is at most `look_back`
 * rows before it and less than `window_ns` earlier. The pairs come in row order, as two
 * bytearrays of int64 rows.
 *
 * Two open-addressing tables of rows, by the hash of (group, keys): the current one takes
 * every row (an identical row replaces its older twin, so a look-up finds the nearest), and
 * when it holds `look_back` distinct rows it becomes the previous one and a fresh table
 * starts. Every row of the last `look_back` is then in one of the two, the tables stay small
 * enough for the cache whatever the capture's size, and the columns are read in order. */
/* Odd 64-bit factors, one per key column (constants of murmur3, xxHash and splitmix64). */
/* Views of the tuple's columns (at most MAX_KEYS; the caller checked), each n int64 rows
 * (`what` names one in the error): views[c] and its data cols[c]. *got counts the views
 * acquired, a failed one included, for the caller to release; -1 with the error set. */
static int
column_views(PyObject *tuple, Py_ssize_t n, const char *what, Py_buffer *views,
             const int64_t **cols, Py_ssize_t *got)
{
    for (; *got < PyTuple_GET_SIZE(tuple); (*got)++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(tuple, *got), &views[*got], PyBUF_SIMPLE) < 0)
            return -1;
        if (check_len(&views[*got], n, 8, what)) {
            (*got)++; /* acquired: released by the caller */
            return -1;
        }
        cols[*got] = views[*got].buf;
    }
    return 0;
}

static const uint64_t KEY_FACTORS[MAX_KEYS] = {
    0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL, 0xff51afd7ed558ccdULL,
    0xc4ceb9fe1a85ec53ULL, 0x94d049bb133111ebULL, 0xbf58476d1ce4e5b9ULL, 0x9fb21c651e98df25ULL,
    0x2127599bf4325c37ULL, 0x880355f21e6d1965ULL, 0x6c8e9cf570932bd5ULL, 0x5bd1e9955bd1e995ULL,
    0x87c37b91114253d5ULL, 0x4cf5ad432745937fULL, 0x52dce729da3ed6a5ULL, 0x38495ab5a1e3b2c7ULL,
};

static inline int
same_row(const int64_t *const *cols, Py_ssize_t n_keys, const int64_t *g, int64_t a, int64_t b)
{
    if (g[a] != g[b])
        return 0;
    for (Py_ssize_t c = 0; c < n_keys; c++)
        if (cols[c][a] != cols[c][b])
            return 0;
    return 1;
}

/* The row identical to row `i` (hash `h`) in `table` (-1: none): slots of two int64, a row
 * and its hash, so a slot holding another row is passed over without reading that row's
 * columns. `*at` is left at the twin's slot, or at the empty slot where row `i` would go. */
static inline int64_t
find_twin(const int64_t *table, uint64_t mask, uint64_t h, const int64_t *const *cols,
          Py_ssize_t n_keys, const int64_t *g, int64_t i, uint64_t *at)
{
    uint64_t s = h & mask;
    int64_t row;
    while ((row = table[2 * s]) >= 0) {
        if ((uint64_t)table[2 * s + 1] == h && same_row(cols, n_keys, g, row, i))
            break;
        s = (s + 1) & mask;
    }
    *at = s;
    return row;
}

static PyObject *
identical_pairs(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *key_tuple;
    Py_buffer group = {0}, times = {0};
    Py_buffer key_views[MAX_KEYS];
    Py_buffer *all[] = {&group, &times};
    Py_ssize_t n_keys = 0, got_keys = 0, look_back;
    long long window;
    Offsets later = {NULL, 0, 0}, earlier = {NULL, 0, 0};
    int64_t *tables = NULL;
    memset(key_views, 0, sizeof key_views);
    if (!PyArg_ParseTuple(args, "O!y*y*Ln", &PyTuple_Type, &key_tuple, &group, &times,
                          &window, &look_back))
        goto fail;
    const Py_ssize_t n = group.len / 8;
    n_keys = PyTuple_GET_SIZE(key_tuple);
    if (n_keys > MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "identical_pairs: at most 16 key columns");
        goto fail;
    }
    if (look_back < 1 || look_back > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "identical_pairs: look_back from 1 to 2**24 rows");
        goto fail;
    }
    const int64_t *cols[MAX_KEYS];
    if (column_views(key_tuple, n, "key", key_views, cols, &got_keys))
        goto fail;
    if (check_len(&group, n, 8, "group") || check_len(&times, n, 8, "time_ns"))
        goto fail;
    const int64_t *g = group.buf, *t = times.buf;
    /* slots per table: a power of two, at least twice the distinct rows it may hold */
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)look_back)
        cap <<= 1;
    const uint64_t mask = cap - 1;
    tables = malloc(4 * cap * sizeof(int64_t)); /* two tables of (row, hash) slots */
    if (tables == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    int64_t *current = tables, *previous = tables + 2 * cap;
    /* A seed per call: a capture crafted so that many rows share a slot's low bits (linear
     * probing then walks up to look_back slots a row) cannot know it. */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)(uintptr_t)tables ^ (uint64_t)time(NULL);
    int no_memory = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(tables, 0xff, 4 * cap * sizeof(int64_t)); /* -1: empty */
    Py_ssize_t held = 0; /* distinct rows in `current` */
    for (Py_ssize_t i = 0; i < n; i++) {
        /* a multiply per value (independent of one another), summed, one mix at the end:
         * the table only needs its low bits spread, and every key is compared when the
         * hashes agree */
        uint64_t h = ((uint64_t)g[i] ^ seed) * 0x9e3779b97f4a7c15ULL;
        for (Py_ssize_t c = 0; c < n_keys; c++)
            h += (uint64_t)cols[c][i] * KEY_FACTORS[c];
        h = mix64(h);
        uint64_t slot, unused;
        int64_t twin = find_twin(current, mask, h, cols, n_keys, g, i, &slot);
        if (twin < 0)
            twin = find_twin(previous, mask, h, cols, n_keys, g, i, &unused);
        if (twin >= 0 && i - twin <= look_back && t[i] - t[twin] < window) {
            if (offsets_append(&later, i) < 0 || offsets_append(&earlier, twin) < 0) {
                no_memory = 1;
                break;
            }
        }
        if (current[2 * slot] < 0)
            held++;
        current[2 * slot] = i; /* the nearest of its twins from now on */
        current[2 * slot + 1] = (int64_t)h;
        if (held >= look_back) {
            int64_t *swap = previous;
            previous = current;
            current = swap;
            memset(current, 0xff, 2 * cap * sizeof(int64_t));
            held = 0;
        }
    }
    Py_END_ALLOW_THREADS
    free(tables);
    for (Py_ssize_t c = 0; c < got_keys; c++)
        PyBuffer_Release(&key_views[c]);
    release_all(all, 2);
    if (no_memory) {
        free(later.items);
        free(earlier.items);
        return PyErr_NoMemory();
    }
    PyObject *a = offsets_finish(&later);
    PyObject *b = offsets_finish(&earlier);
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    return Py_BuildValue("(NN)", a, b);
fail:
    free(tables);
    for (Py_ssize_t c = 0; c < got_keys; c++)
        PyBuffer_Release(&key_views[c]);
    release_all(all, 2);
    free(later.items);
    free(earlier.items);
    return NULL;
}

static PyObject *
first_seen_ids(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *col_tuple;
    Py_buffer out = {0};
    Py_buffer col_views[MAX_KEYS];
    Py_buffer *all[] = {&out};
    Py_ssize_t n_cols = 0, got = 0;
    memset(col_views, 0, sizeof col_views);
    if (!PyArg_ParseTuple(args, "O!w*", &PyTuple_Type, &col_tuple, &out))
        goto fail;
    const Py_ssize_t n = out.len / 8;
    n_cols = PyTuple_GET_SIZE(col_tuple);
    if (n_cols < 1 || n_cols > MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "first_seen_ids: 1 to 16 columns");
        goto fail;
    }
    const int64_t *cols[MAX_KEYS];
    if (column_views(col_tuple, n, "column", col_views, cols, &got))
        goto fail;
    int64_t *ids = out.buf;
    uint64_t cap = 1024; /* slots: a power of two, at least twice the distinct rows */
    int64_t *slots = malloc(cap * sizeof(int64_t));
    /* The distinct rows' values, n_cols a row, by id: compared in cache, not in the columns. */
    Offsets seen = {NULL, 0, 0};
    int64_t row[MAX_KEYS];
    int no_memory = slots == NULL;
    Py_BEGIN_ALLOW_THREADS
    if (!no_memory)
        memset(slots, 0xff, cap * sizeof(int64_t)); /* -1: empty */
    for (Py_ssize_t i = 0; i < n && !no_memory; i++) {
        for (Py_ssize_t c = 0; c < n_cols; c++)
            row[c] = cols[c][i];
        uint64_t mask = cap - 1, at = row_hash(row, n_cols) & mask;
        int64_t id;
        while ((id = slots[at]) >= 0) {
            const int64_t *known = seen.items + id * n_cols;
            Py_ssize_t c = 0;
            while (c < n_cols && known[c] == row[c])
                c++;
            if (c == n_cols)
                break;
            at = (at + 1) & mask;
        }
        if (id < 0) { /* a new distinct row */
            id = seen.len / n_cols;
            for (Py_ssize_t c = 0; c < n_cols && !no_memory; c++)
                no_memory = offsets_append(&seen, row[c]) < 0;
            if (no_memory)
                break;
            slots[at] = id;
            if ((uint64_t)(id + 1) * 2 > cap) { /* grow: every distinct row placed again */
                int64_t *bigger = malloc(cap * 2 * sizeof(int64_t));
                if (bigger == NULL) {
                    no_memory = 1;
                    break;
                }
                free(slots);
                slots = bigger;
                cap *= 2;
                memset(slots, 0xff, cap * sizeof(int64_t));
                for (int64_t k = 0; k <= id; k++)
                    slot_in(slots, cap - 1, row_hash(seen.items + k * n_cols, n_cols), k);
            }
        }
        ids[i] = id;
    }
    Py_END_ALLOW_THREADS
    Py_ssize_t distinct = seen.len / n_cols;
    free(slots);
    free(seen.items);
    for (Py_ssize_t c = 0; c < got; c++)
        PyBuffer_Release(&col_views[c]);
    release_all(all, 1);
    if (no_memory)
        return PyErr_NoMemory();
    return PyLong_FromSsize_t(distinct);
fail:
    for (Py_ssize_t c = 0; c < got; c++)
        PyBuffer_Release(&col_views[c]);
    release_all(all, 1);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * The decode stage's common frame: Ethernet II, IPv4, TCP (decode/ethernet_ipv4_tcp.py).
 *
 * One walk over the frames decodes those that are exactly that and nothing unusual: a
 * complete record of link type Ethernet, EtherType 0x0800 right after the MAC addresses, a
 * whole IPv4 header (version 4, IHL >= 5, total length >= IHL) that is no fragment and
 * carries TCP, and a whole TCP header whose data offset is >= 5 and fits the IP payload.
 * Every other frame (VLAN tags, IPv6, tunnels, ICMP, anything malformed or cut short) is
 * left to the numpy layers, which decide its columns or its skip reason as before; so this
 * holds no rule of its own: each test below is the numpy layers' test for the same field
 * (link.py, ip.py, tcp.py, options.py), and tests/decode/test_common_frames.py requires the
 * same segments table from both ways over sample, corpus and damaged captures.
 */

enum {
    CF_IDX, CF_SRC, CF_DST, CF_SPORT, CF_DPORT, CF_IP_ID, CF_TTL, CF_SEQ, CF_ACK, CF_FLAGS,
    CF_WINDOW, CF_SEG_LEN, CF_MSS, CF_WSCALE, CF_SACK_PERM, CF_HAS_TS, CF_TS_VAL, CF_TS_ECR,
    CF_SACK_BLOCKS, CF_SACK_LE, CF_SACK_RE, CF_DSACK, CF_PAYLOAD_AT, CF_COLUMNS
};
/* Bytes per value of each output column, in the order above (decode/ethernet_ipv4_tcp.py
 * COLUMNS). */
static const Py_ssize_t cf_size[CF_COLUMNS] = {
    8, 8, 8, 2, 2, 4, 1, 4, 4, 2, 2, 4, 2, 1, 1, 1, 4, 4, 1, 4, 4, 1, 4,
};

static inline uint32_t
be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

/* Network byte order: the capture file's own word reader, big-endian. */
static inline uint32_t
be32(const unsigned char *p)
{
    return word32(p, 1);
}

#define CF_SET(column, type, row, value) (((type *)out[column].buf)[row] = (type)(value))

/* The option walk of options.py (tcp_options, _store, _store_sack) for one segment: one
 * option at a time from the start of the captured option bytes; EOL, a length < 2 or an
 * option running past them ends the list; a later option of a kind overwrites an earlier.
 * room: the header's option bytes (limit: those captured); a SACK option the snaplen cut keeps
 * its blocks captured whole, as options.py does.
 * cut_syn: a SYN whose options the snaplen cut: no window scale found there is not known
 * absent (WSCALE_CUT, decode/options.py). */
static void
cf_options(const unsigned char *o, int64_t limit, int64_t room, uint32_t ack, int cut_syn,
           Py_buffer *out, Py_ssize_t m)
{
    uint32_t mss = 0, ts_val = 0, ts_ecr = 0, sack_le = 0, sack_re = 0;
    int wscale = -1, sack_perm = 0, has_ts = 0, sack_blocks = 0, dsack = 0;
    int64_t pos = 0;
    while (pos < limit) {
        unsigned kind = o[pos];
        if (kind == 1) { /* NOP */
            pos += 1;
            continue;
        }
        if (kind == 0 || pos + 1 >= limit)
            break;
        int64_t length = o[pos + 1];
        const int sack_length = length >= 10 && (length - 2) % 8 == 0;
        /* Cut by the snaplen (whole in the header): its blocks captured whole, then the end. */
        const int cut = kind == 5 && sack_length && pos + length > limit && pos + length <= room
                        && (limit - pos - 2) / 8 > 0;
        if (cut)
            length = 2 + 8 * ((limit - pos - 2) / 8);
        else if (length < 2 || pos + length > limit)
            break;
        const unsigned char *v = o + pos + 2;
        if (kind == 2 && length == 4)
            mss = be16(v);
        else if (kind == 3 && length == 3)
            wscale = v[0] < 14 ? v[0] : 14; /* RFC 7323 2.3: a shift above 14 is 14 */
        else if (kind == 4 && length == 2)
            sack_perm = 1;
        else if (kind == 8 && length == 10) {
            has_ts = 1;
            ts_val = be32(v);
            ts_ecr = be32(v + 4);
        }
        else if (kind == 5 && sack_length) {
            /* The block reaching furthest past the ACK (wrap-safe), and the count. */
            int64_t count = (length - 2) / 8, best = -1;
            sack_blocks = count < 255 ? (int)count : 255;
            sack_le = sack_re = 0;
            for (int64_t b = 0; b < count; b++) {
                uint32_t le = be32(v + 8 * b), re = be32(v + 8 * b + 4);
                int64_t dist = (int64_t)(uint32_t)(re - ack);
                if (dist > best) {
                    best = dist;
                    sack_le = le;
                    sack_re = re;
                }
            }
            /* The first block a D-SACK (options.py _first_block_dsack, tcp_check_dsack):
             * below the ACK, or within the second block; then it is the one kept. */
            uint32_t le0 = be32(v), re0 = be32(v + 4);
            dsack = (int32_t)(le0 - ack) < 0;
            if (!dsack && count > 1) {
                uint32_t le1 = be32(v + 8), re1 = be32(v + 12);
                dsack = (int32_t)(re0 - re1) <= 0 && (int32_t)(le0 - le1) >= 0;
            }
            if (dsack) {
                sack_le = le0;
                sack_re = re0;
            }
        }
        if (cut)
            break;
        pos += length;
    }
    if (wscale < 0 && cut_syn)
        wscale = -2;
    CF_SET(CF_MSS, uint16_t, m, mss);
    CF_SET(CF_WSCALE, int8_t, m, wscale);
    CF_SET(CF_SACK_PERM, uint8_t, m, sack_perm);
    CF_SET(CF_HAS_TS, uint8_t, m, has_ts);
    CF_SET(CF_TS_VAL, uint32_t, m, ts_val);
    CF_SET(CF_TS_ECR, uint32_t, m, ts_ecr);
    CF_SET(CF_SACK_BLOCKS, uint8_t, m, sack_blocks);
    CF_SET(CF_SACK_LE, uint32_t, m, sack_le);
    CF_SET(CF_SACK_RE, uint32_t, m, sack_re);
    CF_SET(CF_DSACK, uint8_t, m, dsack);
}

static PyObject *
ethernet_ipv4_tcp(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data = {0}, offset = {0}, caplen = {0}, origlen = {0}, link = {0}, cut = {0};
    Py_buffer out[CF_COLUMNS];
    PyObject *outputs;
    int got = 0;
    Py_ssize_t m = 0;
    memset(out, 0, sizeof out);
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*O!", &data, &offset, &caplen, &origlen, &link,
                          &cut, &PyTuple_Type, &outputs))
        return NULL;
    Py_buffer *inputs[] = {&data, &offset, &caplen, &origlen, &link, &cut};
    const Py_ssize_t n = offset.len / 8;
    if (check_len(&offset, n, 8, "offset") || check_len(&caplen, n, 8, "caplen")
        || check_len(&origlen, n, 8, "origlen") || check_len(&link, n, 4, "link_type")
        || check_len(&cut, n, 1, "truncated"))
        goto fail;
    if (PyTuple_GET_SIZE(outputs) != CF_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "ethernet_ipv4_tcp: wrong number of output columns");
        goto fail;
    }
    for (; got < CF_COLUMNS; got++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outputs, got), &out[got], PyBUF_WRITABLE) < 0)
            goto fail;
        if (check_len(&out[got], n, cf_size[got], "output column")) {
            got++;
            goto fail;
        }
    }
    const unsigned char *buf = data.buf;
    const int64_t size = (int64_t)data.len;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t start, cap, orig;
        int32_t link_type;
        memcpy(&start, (const char *)offset.buf + 8 * i, 8);
        memcpy(&cap, (const char *)caplen.buf + 8 * i, 8);
        memcpy(&orig, (const char *)origlen.buf + 8 * i, 8);
        memcpy(&link_type, (const char *)link.buf + 4 * i, 4);
        if (link_type != 1 || ((const unsigned char *)cut.buf)[i])
            continue; /* not Ethernet, or a record the file cut */
        if (start < 0 || cap < 0 || start > size || cap > size - start)
            continue; /* outside the buffer: the numpy layers decide */
        const int64_t end = start + cap;
        const int64_t wire_end = start + (orig > cap ? orig : cap);
        /* Ethernet II (link.py ethernet_frames): 14 bytes, EtherType IPv4 */
        if (end - start < 14 || be16(buf + start + 12) != 0x0800)
            continue;
        /* IPv4 (ip.py _ipv4) */
        const int64_t ip = start + 14;
        if (end - ip < 20)
            continue;
        const unsigned char *h = buf + ip;
        const int64_t ihl = (int64_t)(h[0] & 0x0F) * 4;
        const int64_t wire = wire_end - ip > 0 ? wire_end - ip : 0;
        int64_t total = be16(h + 2);
        /* 0 from TSO/GSO on the sender: the frame's wire length; never past the wire */
        total = total == 0 ? wire_end - ip : (total < wire ? total : wire);
        if ((h[0] >> 4) != 4 || ihl < 20 || total < ihl)
            continue; /* malformed */
        if (ip + ihl > end || (be16(h + 6) & 0x3FFF) != 0 || h[9] != 6)
            continue; /* options cut short, a fragment, or not TCP */
        /* TCP (tcp.py tcp_layer) */
        const int64_t l4 = ip + ihl, l4_len = total - ihl;
        if (end - l4 < 20)
            continue;
        const unsigned char *t = buf + l4;
        const int64_t doff = (int64_t)(t[12] >> 4) * 4;
        if (doff < 20 || doff > l4_len)
            continue;
        const uint32_t ack = be32(t + 8);
        CF_SET(CF_IDX, int64_t, m, i);
        CF_SET(CF_SRC, uint64_t, m, be32(h + 12));
        CF_SET(CF_DST, uint64_t, m, be32(h + 16));
        CF_SET(CF_SPORT, uint16_t, m, be16(t));
        CF_SET(CF_DPORT, uint16_t, m, be16(t + 2));
        CF_SET(CF_IP_ID, uint32_t, m, be16(h + 4));
        CF_SET(CF_TTL, uint8_t, m, h[8]);
        CF_SET(CF_SEQ, uint32_t, m, be32(t + 4));
        CF_SET(CF_ACK, uint32_t, m, ack);
        CF_SET(CF_FLAGS, uint16_t, m, be16(t + 12) & 0x01FF); /* the reserved bits dropped */
        CF_SET(CF_WINDOW, uint16_t, m, be16(t + 14));
        CF_SET(CF_SEG_LEN, uint32_t, m, l4_len - doff);
        CF_SET(CF_PAYLOAD_AT, uint32_t, m, l4 + doff - start);
        /* Options: the captured part of them (a snaplen may cut them; the segment stays). */
        const int64_t options_end = l4 + doff < end ? l4 + doff : end;
        cf_options(t + 20, options_end - (l4 + 20), doff - 20, ack,
                   l4 + doff > end && (t[13] & 0x02), out, m);
        m++;
    }
    Py_END_ALLOW_THREADS

    for (int c = 0; c < got; c++)
        PyBuffer_Release(&out[c]);
    release_all(inputs, 6);
    return PyLong_FromSsize_t(m);
fail:
    for (int c = 0; c < got; c++)
        PyBuffer_Release(&out[c]);
    release_all(inputs, 6);
    return NULL;
}

/* ---- JSON text layout (render/jsondoc.py) --------------------------------------------
 *
 * jsondoc._Layout lays out the pcapline/1 document as json.dumps(..., indent=indent,
 * ensure_ascii=False, allow_nan=False) writes it, a chunk of connections at a time. Its
 * Python path turns each scalar into a str, then joins each row's texts with its fixed
 * shape: an object per value and per row (about 0.35 us each, a million of them on a
 * 30 k-connection capture). json_text and fill write the same text straight into one
 * buffer per row. They take JSON-native values only (exact str, int, float, bool, None,
 * dict with str keys, list, tuple), as _Layout._nested does: anything else raises TypeError,
 * a float that is not finite ValueError, and the caller lays out that chunk in Python
 * (which then decides, as before, what json.dumps would do with it).
 */

/* A growing text: one byte per character while every character fits (Latin-1), four from
 * the first wider one on; text_finish makes the canonical str of it. */
typedef struct {
    void *data;
    int kind; /* PyUnicode_1BYTE_KIND or PyUnicode_4BYTE_KIND */
    Py_ssize_t len;
    Py_ssize_t cap; /* in characters */
    int latin1;     /* a character past ASCII went in (so far as one byte) */
} Text;

#define TEXT_INIT {NULL, PyUnicode_1BYTE_KIND, 0, 0, 0}

/* How the document is indented: json.dumps's indent (None: no newlines, ", " between items). */
typedef struct {
    int newlines;
    Py_ssize_t indent; /* spaces per depth (a negative indent is 0, as " " * -2 is "") */
    const char *item_sep;
    Py_ssize_t item_sep_len;
} Indent;

static int
text_reserve(Text *t, Py_ssize_t extra)
{
    if (extra > PY_SSIZE_T_MAX / 8 - t->len) {
        PyErr_NoMemory();
        return -1;
    }
    if (t->len + extra <= t->cap)
        return 0;
    Py_ssize_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + extra)
        cap *= 2;
    void *data = PyMem_Realloc(t->data, (size_t)cap * (size_t)t->kind);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->data = data;
    t->cap = cap;
    return 0;
}

/* From one byte per character to four (a character beyond Latin-1 is coming). */
static int
text_widen(Text *t)
{
    Py_ssize_t cap = t->cap ? t->cap : 1024;
    Py_UCS4 *wide = PyMem_Malloc((size_t)cap * sizeof(Py_UCS4));
    if (wide == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    const Py_UCS1 *narrow = t->data;
    for (Py_ssize_t i = 0; i < t->len; i++)
        wide[i] = narrow[i];
    PyMem_Free(t->data);
    t->data = wide;
    t->kind = PyUnicode_4BYTE_KIND;
    t->cap = cap;
    return 0;
}

static inline void
text_put(Text *t, Py_UCS4 c) /* room reserved, c fits t->kind */
{
    if (t->kind == PyUnicode_1BYTE_KIND)
        ((Py_UCS1 *)t->data)[t->len++] = (Py_UCS1)c;
    else
        ((Py_UCS4 *)t->data)[t->len++] = c;
}

static int
text_ascii(Text *t, const char *s, Py_ssize_t n)
{
    if (text_reserve(t, n) < 0)
        return -1;
    if (t->kind == PyUnicode_1BYTE_KIND) {
        memcpy((Py_UCS1 *)t->data + t->len, s, (size_t)n);
        t->len += n;
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++)
            text_put(t, (unsigned char)s[i]);
    }
    return 0;
}

/* Make room for n characters of a str of `kind` (widening for a 2- or 4-byte one). */
static int
text_reserve_for(Text *t, int kind, Py_ssize_t n)
{
    if (kind != PyUnicode_1BYTE_KIND && t->kind == PyUnicode_1BYTE_KIND && text_widen(t) < 0)
        return -1;
    return text_reserve(t, n);
}

/* A str as it is (an already laid-out text). */
static int
text_str(Text *t, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (text_reserve_for(t, kind, n) < 0)
        return -1;
    t->latin1 |= !PyUnicode_IS_ASCII(s);
    if (kind == PyUnicode_1BYTE_KIND && t->kind == PyUnicode_1BYTE_KIND) {
        memcpy((Py_UCS1 *)t->data + t->len, data, (size_t)n);
        t->len += n;
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++)
            text_put(t, PyUnicode_READ(kind, data, i));
    }
    return 0;
}

/* A str as a JSON string: json's C escaper with ensure_ascii=False (encode_basestring):
 * the quote, the backslash and the control characters escaped, all else as it is. */
static int
text_json_string(Text *t, PyObject *s)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    /* 6 characters (\u00XX) per input character at most, and the quotes */
    if (n > (PY_SSIZE_T_MAX / 8 - 2) / 6) {
        PyErr_NoMemory();
        return -1;
    }
    if (text_reserve_for(t, kind, 6 * n + 2) < 0)
        return -1;
    t->latin1 |= !PyUnicode_IS_ASCII(s); /* the escapes are ASCII */
    text_put(t, '"');
    Py_ssize_t i = 0;
    if (kind == PyUnicode_1BYTE_KIND && t->kind == PyUnicode_1BYTE_KIND) {
        /* the usual case, one byte in and out: the run up to the first character to escape
         * is copied at once (most strings have none) */
        const Py_UCS1 *in = data;
        while (i < n && in[i] >= ' ' && in[i] != '"' && in[i] != '\\')
            i++;
        memcpy((Py_UCS1 *)t->data + t->len, in, (size_t)i);
        t->len += i;
    }
    for (; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= ' ' && c != '"' && c != '\\') {
            text_put(t, c);
            continue;
        }
        text_put(t, '\\');
        switch (c) {
        case '"': text_put(t, '"'); break;
        case '\\': text_put(t, '\\'); break;
        case '\b': text_put(t, 'b'); break;
        case '\f': text_put(t, 'f'); break;
        case '\n': text_put(t, 'n'); break;
        case '\r': text_put(t, 'r'); break;
        case '\t': text_put(t, 't'); break;
        default:
            text_put(t, 'u');
            text_put(t, '0');
            text_put(t, '0');
            text_put(t, hex[(c >> 4) & 0xf]);
            text_put(t, hex[c & 0xf]);
        }
    }
    text_put(t, '"');
    return 0;
}

/* The str of the text. One byte per character: its kind is known (ASCII unless a str past
 * ASCII went in), so it is copied without the scan PyUnicode_FromKindAndData makes. */
static PyObject *
text_finish(const Text *t)
{
    if (t->kind != PyUnicode_1BYTE_KIND)
        return PyUnicode_FromKindAndData(t->kind, t->data, t->len);
    PyObject *s = PyUnicode_New(t->len, t->latin1 ? 0xff : 0x7f);
    if (s != NULL && t->len)
        memcpy(PyUnicode_1BYTE_DATA(s), t->data, (size_t)t->len);
    return s;
}

/* A newline and the indent of `depth` (nothing without newlines). */
static int
text_newline(Text *t, const Indent *ind, Py_ssize_t depth)
{
    if (!ind->newlines)
        return 0;
    Py_ssize_t spaces = ind->indent * depth;
    if (text_reserve(t, spaces + 1) < 0)
        return -1;
    text_put(t, '\n');
    if (t->kind == PyUnicode_1BYTE_KIND) { /* most documents: one memset, not a loop */
        memset((Py_UCS1 *)t->data + t->len, ' ', (size_t)spaces);
        t->len += spaces;
        return 0;
    }
    for (Py_ssize_t i = 0; i < spaces; i++)
        text_put(t, ' ');
    return 0;
}

/* A 64-bit integer in decimal, as int.__repr__ writes it. */
static int
text_long_long(Text *t, long long x)
{
    char digits[24];
    char *end = digits + sizeof digits, *p = end;
    /* as unsigned: -LLONG_MIN does not fit a long long */
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (x < 0)
        *--p = '-';
    return text_ascii(t, p, end - p);
}

/* An int as int.__repr__ writes it: decimal, through the int's own repr past int64. */
static int
text_int(Text *t, PyObject *v)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow) {
        PyObject *s = PyLong_Type.tp_repr(v);
        if (s == NULL)
            return -1;
        int rc = text_str(t, s);
        Py_DECREF(s);
        return rc;
    }
    return text_long_long(t, x);
}

/* float.__repr__ of x in `out` (32 bytes) for the common case, in about a tenth of the time
 * of the general algorithm; -1 where that one must decide.
 *
 * repr gives the shortest decimal that reads back as x (the nearest of those, if several),
 * in fixed notation for 1e-4 <= |x| < 1e16. Here 1e-4 <= |x| < 2**53, so x = m * 2**-s with
 * an integer 2**52 < m < 2**53 and 0 <= s <= 66, and its neighbours are m +- 1 (times
 * 2**-s; m = 2**52, whose lower gap is half, is left to the general case). The decimals
 * with k digits after the point are N / 10**k; the nearest to x is N = round(x * 10**k),
 * computed exactly as m * 10**k / 2**s in 128 bits. It reads back as x when it is within
 * half a gap of x: 2 |N * 2**s - m * 10**k| < 10**k. The first k (from 0) where it does
 * gives the fewest digits: a decimal with fewer digits after the point is an N / 10**k of
 * a smaller k, and for k = 0 no other integer is as close (x < 2**53: the gaps are <= 1).
 * It has no trailing zero after the point (N / 10 would have read back at k - 1). Exact
 * ties (x * 10**k halfway between integers, or N exactly half a gap away) go to the
 * general case, which decides them by its own rules. Zero is "0.0" or "-0.0". */
#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 uint128; /* GCC and Clang on 64-bit targets */
#endif

static int
repr_fixed(double x, char *out)
{
    double ax = fabs(x);
    if (ax == 0.0) /* 0.0 and -0.0 */
        return (int)(strcpy(out, signbit(x) ? "-0.0" : "0.0"), signbit(x) ? 4 : 3);
#ifndef __SIZEOF_INT128__
    return -1; /* no 128-bit integers: the general algorithm does every float */
#else
    if (!(ax >= 1e-4 && ax < 9007199254740992.0))
        return -1;
    int exp;
    double f = frexp(ax, &exp); /* ax = f * 2**exp, 0.5 <= f < 1, exp <= 53 */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int s = 53 - exp;
    if (m == (uint64_t)1 << 52 || s < 0 || s > 66)
        return -1;
    uint128 pow10 = 1, mask = s ? ((uint128)1 << s) - 1 : 0;
    uint128 half = s ? (uint128)1 << (s - 1) : 0;
    for (int k = 0; k <= 22; k++, pow10 *= 10) {
        uint128 p = (uint128)m * pow10; /* < 2**53 * 10**22 < 2**127 */
        uint128 rem = p & mask, whole = p >> s, off = rem;
        if (s && rem == half)
            return -1;
        if (rem > half) {
            whole += 1;
            off = mask + 1 - rem;
        }
        if (2 * off == pow10)
            return -1;
        if (2 * off > pow10)
            continue;
        if (whole >> 64)
            return -1; /* not a shortest repr (cannot happen): the general case decides */
        /* n / 10**k: k digits after the point (".0" for none), the sign first; n has at
         * most 17 significant digits (so fits 64 bits), as every shortest repr */
        uint64_t n = (uint64_t)whole;
        char digits[48]; /* <= 16 before the point, <= 22 after */
        char *end = digits + sizeof digits, *q = end;
        for (int i = 0; i < k; i++, n /= 10)
            *--q = (char)('0' + (int)(n % 10));
        if (k)
            *--q = '.';
        do
            *--q = (char)('0' + (int)(n % 10));
        while (n /= 10);
        char *o = out;
        if (x < 0)
            *o++ = '-';
        memcpy(o, q, (size_t)(end - q));
        o += end - q;
        if (k == 0) {
            *o++ = '.';
            *o++ = '0';
        }
        return (int)(o - out);
    }
    return -1;
#endif
}

/* A finite float as float.__repr__ (and so json.dumps) writes it: the shortest repr, with
 * ".0" after a whole number; NaN and infinities are refused (allow_nan=False). */
static int
text_float(Text *t, double x)
{
    if (!isfinite(x)) {
        PyErr_SetString(PyExc_ValueError, "a float that is not finite has no JSON text");
        return -1;
    }
    char fixed[64];
    int n = repr_fixed(x, fixed);
    if (n >= 0)
        return text_ascii(t, fixed, n);
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (s == NULL)
        return -1;
    int rc = text_ascii(t, s, (Py_ssize_t)strlen(s));
    PyMem_Free(s);
    return rc;
}

static int text_value(Text *t, PyObject *v, Py_ssize_t depth, const Indent *ind);

/* The items of a list or tuple, each on its own line at depth + 1 (jsondoc._bracketed). */
static int
text_array(Text *t, PyObject *seq, Py_ssize_t depth, const Indent *ind)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0)
        return text_ascii(t, "[]", 2);
    if (text_ascii(t, "[", 1) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && text_ascii(t, ind->item_sep, ind->item_sep_len) < 0)
            return -1;
        if (text_newline(t, ind, depth + 1) < 0)
            return -1;
        /* borrowed: a list item may go if the value is laid out while someone changes it,
         * but nothing here runs Python code (no __repr__ of a foreign type is called) */
        if (text_value(t, PySequence_Fast_GET_ITEM(seq, i), depth + 1, ind) < 0)
            return -1;
        if (PySequence_Fast_GET_SIZE(seq) != n) {
            PyErr_SetString(PyExc_RuntimeError, "list changed size during layout");
            return -1;
        }
    }
    if (text_newline(t, ind, depth) < 0)
        return -1;
    return text_ascii(t, "]", 1);
}

/* An object's keys (exact str only, as jsondoc._key) on their own lines at depth + 1. */
static int
text_object(Text *t, PyObject *dict, Py_ssize_t depth, const Indent *ind)
{
    if (PyDict_GET_SIZE(dict) == 0)
        return text_ascii(t, "{}", 2);
    if (text_ascii(t, "{", 1) < 0)
        return -1;
    Py_ssize_t pos = 0, n = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            PyErr_SetString(PyExc_TypeError, "an object key that is not a str");
            return -1;
        }
        if (n++ && text_ascii(t, ind->item_sep, ind->item_sep_len) < 0)
            return -1;
        if (text_newline(t, ind, depth + 1) < 0 || text_json_string(t, key) < 0 ||
            text_ascii(t, ": ", 2) < 0 || text_value(t, value, depth + 1, ind) < 0)
            return -1;
    }
    if (text_newline(t, ind, depth) < 0)
        return -1;
    return text_ascii(t, "}", 1);
}

/* Any JSON-native value at `depth` (jsondoc._Layout._nested). */
static int
text_value(Text *t, PyObject *v, Py_ssize_t depth, const Indent *ind)
{
    if (PyUnicode_CheckExact(v))
        return text_json_string(t, v);
    if (v == Py_None)
        return text_ascii(t, "null", 4);
    if (v == Py_True)
        return text_ascii(t, "true", 4);
    if (v == Py_False)
        return text_ascii(t, "false", 5);
    if (PyLong_CheckExact(v))
        return text_int(t, v);
    if (PyFloat_CheckExact(v))
        return text_float(t, PyFloat_AS_DOUBLE(v));
    if (PyDict_CheckExact(v) || PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        if (Py_EnterRecursiveCall(" while laying out JSON"))
            return -1;
        int rc = PyDict_CheckExact(v) ? text_object(t, v, depth, ind)
                                       : text_array(t, v, depth, ind);
        Py_LeaveRecursiveCall();
        return rc;
    }
    PyErr_Format(PyExc_TypeError, "no JSON layout for a %.100s", Py_TYPE(v)->tp_name);
    return -1;
}

/* json.dumps's indent argument: None or an int. */
static int
read_indent(PyObject *obj, Indent *ind)
{
    ind->newlines = obj != Py_None;
    ind->indent = 0;
    ind->item_sep = ind->newlines ? "," : ", ";
    ind->item_sep_len = ind->newlines ? 1 : 2;
    if (!ind->newlines)
        return 0;
    if (!PyLong_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "indent must be an int or None");
        return -1;
    }
    Py_ssize_t indent = PyLong_AsSsize_t(obj);
    if (indent == -1 && PyErr_Occurred())
        return -1;
    if (indent > 1024) { /* a document nested 8 deep stays far below PY_SSIZE_T_MAX */
        PyErr_SetString(PyExc_ValueError, "indent too large");
        return -1;
    }
    ind->indent = indent < 0 ? 0 : indent;
    return 0;
}

/* json_text(value, depth, indent) -> str
 *
 * jsondoc._Layout._nested: `value` laid out at `depth` (its items one deeper). */
static PyObject *
json_text(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *value, *indent_obj;
    Py_ssize_t depth;
    Indent ind;
    if (!PyArg_ParseTuple(args, "OnO:json_text", &value, &depth, &indent_obj))
        return NULL;
    if (read_indent(indent_obj, &ind) < 0)
        return NULL;
    if (depth < 0 || depth > 1024) {
        PyErr_SetString(PyExc_ValueError, "depth out of range");
        return NULL;
    }
    Text t = TEXT_INIT;
    PyObject *out = NULL;
    if (text_value(&t, value, depth, &ind) == 0)
        out = text_finish(&t);
    PyMem_Free(t.data);
    return out;
}

/* A column of fill: a list of values, or a numpy column read in place (no Python int or
 * float per row): int64, or float64 where NaN is null (a measure not taken). */
enum { COLUMN_LIST, COLUMN_INT64, COLUMN_FLOAT64 };

typedef struct {
    int kind;
    PyObject *list;   /* COLUMN_LIST */
    Py_buffer view;   /* the others (released by columns_release) */
    Py_ssize_t rows;
} Column;

/* Read columns[h] as a Column: a list, or a one-dimensional C-contiguous buffer of 8-byte
 * integers ("q", or "l" where a long is 8 bytes) or doubles ("d"). */
static int
column_read(PyObject *obj, Column *c)
{
    if (PyList_CheckExact(obj)) {
        c->kind = COLUMN_LIST;
        c->list = obj;
        c->rows = PyList_GET_SIZE(obj);
        return 0;
    }
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_SetString(PyExc_TypeError, "columns must be lists or int64/float64 arrays");
        return -1;
    }
    if (PyObject_GetBuffer(obj, &c->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear(); /* strided, or read-only in some other way: the caller's fallback */
        PyErr_SetString(PyExc_TypeError, "columns must be lists or contiguous arrays");
        return -1;
    }
    const char *f = c->view.format ? c->view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    int kind = -1;
    if (c->view.itemsize == 8 && (strcmp(f, "q") == 0 || strcmp(f, "l") == 0))
        kind = COLUMN_INT64;
    else if (c->view.itemsize == 8 && strcmp(f, "d") == 0)
        kind = COLUMN_FLOAT64;
    if (kind < 0 || c->view.ndim != 1) {
        PyBuffer_Release(&c->view);
        PyErr_SetString(PyExc_TypeError, "columns must be lists or int64/float64 arrays");
        return -1;
    }
    c->kind = kind;
    c->list = NULL;
    c->rows = c->view.shape[0];
    return 0;
}

static void
columns_release(Column *columns, Py_ssize_t n)
{
    for (Py_ssize_t h = 0; h < n; h++)
        if (columns[h].kind != COLUMN_LIST)
            PyBuffer_Release(&columns[h].view);
}

/* One value of a numpy column: an int64 as int.__repr__, a float64 as float.__repr__, NaN
 * as null (text_float refuses the infinities, as json.dumps with allow_nan=False). */
static int
text_cell(Text *t, const Column *c, Py_ssize_t row)
{
    if (c->kind == COLUMN_INT64)
        return text_long_long(t, (long long)((const int64_t *)c->view.buf)[row]);
    double x = ((const double *)c->view.buf)[row];
    return x != x ? text_ascii(t, "null", 4) : text_float(t, x);
}

/* One row of a fixed shape: pieces[0], hole 0, pieces[1], ..., pieces[holes]. A hole of
 * depth -1 takes its column's str as it is (a text laid out already), any other the
 * column's value laid out at that depth. */
static int
text_row(Text *t, PyObject *pieces, const Column *columns, const Py_ssize_t *depths,
         Py_ssize_t holes, Py_ssize_t row, const Indent *ind)
{
    for (Py_ssize_t h = 0; h < holes; h++) {
        if (text_str(t, PyTuple_GET_ITEM(pieces, h)) < 0)
            return -1;
        if (columns[h].kind != COLUMN_LIST) {
            if (depths[h] < 0) {
                PyErr_SetString(PyExc_TypeError, "a laid-out text that is not a str");
                return -1;
            }
            if (text_cell(t, &columns[h], row) < 0)
                return -1;
            continue;
        }
        PyObject *v = PyList_GET_ITEM(columns[h].list, row);
        if (depths[h] >= 0) {
            if (text_value(t, v, depths[h], ind) < 0)
                return -1;
        }
        else if (!PyUnicode_CheckExact(v)) {
            PyErr_SetString(PyExc_TypeError, "a laid-out text that is not a str");
            return -1;
        }
        else if (text_str(t, v) < 0)
            return -1;
    }
    return text_str(t, PyTuple_GET_ITEM(pieces, holes));
}

/* A list of Py_ssize_t from a list of ints in [0, limit]. */
static Py_ssize_t *
read_bounds(PyObject *list, Py_ssize_t n, Py_ssize_t limit)
{
    if (!PyList_CheckExact(list) || PyList_GET_SIZE(list) != n) {
        PyErr_SetString(PyExc_ValueError, "group starts and ends: lists, one per group");
        return NULL;
    }
    Py_ssize_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Py_ssize_t));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsSsize_t(PyList_GET_ITEM(list, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            PyMem_Free(out);
            return NULL;
        }
        if (out[i] < 0 || out[i] > limit) {
            PyMem_Free(out);
            index_error();
            return NULL;
        }
    }
    return out;
}

/* fill(pieces, columns, depths, indent, groups=None) -> list[str]
 *
 * jsondoc._Slots.fill over columns of values: row i is pieces[0], the layout of
 * columns[0][i] at depths[0] (a str as it is where the depth is -1), pieces[1], ...
 * A column is a list, or an int64 or float64 array (text_cell: NaN is null).
 * With groups = (starts, ends, sep, close) the rows are items of JSON arrays instead: one
 * str per group, "[" + sep.join(rows[start:end]) + close, or "[]" for no rows (each row
 * carries its own newline and indent, as _Layout._events_texts lays them out). */
static PyObject *
fill(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *pieces, *columns, *depths_obj, *indent_obj, *groups = Py_None;
    Indent ind;
    if (!PyArg_ParseTuple(args, "O!O!O!O|O:fill", &PyTuple_Type, &pieces, &PyTuple_Type,
                          &columns, &PyTuple_Type, &depths_obj, &indent_obj, &groups))
        return NULL;
    if (read_indent(indent_obj, &ind) < 0)
        return NULL;
    Py_ssize_t holes = PyTuple_GET_SIZE(columns);
    if (holes == 0 || PyTuple_GET_SIZE(pieces) != holes + 1 ||
        PyTuple_GET_SIZE(depths_obj) != holes) {
        PyErr_SetString(PyExc_ValueError, "one column and one depth per hole, at least one");
        return NULL;
    }
    for (Py_ssize_t h = 0; h <= holes; h++)
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(pieces, h))) {
            PyErr_SetString(PyExc_TypeError, "pieces must be str");
            return NULL;
        }
    PyObject *starts_obj = NULL, *ends_obj = NULL, *sep = NULL, *close = NULL;
    if (groups != Py_None && !PyTuple_Check(groups)) {
        PyErr_SetString(PyExc_TypeError, "groups must be (starts, ends, sep, close) or None");
        return NULL;
    }
    if (groups != Py_None &&
        !PyArg_ParseTuple(groups, "OOUU:fill groups", &starts_obj, &ends_obj, &sep, &close))
        return NULL;
    Py_ssize_t depths[64];
    if (holes > 64) {
        PyErr_SetString(PyExc_ValueError, "at most 64 holes");
        return NULL;
    }
    for (Py_ssize_t h = 0; h < holes; h++) {
        depths[h] = PyLong_AsSsize_t(PyTuple_GET_ITEM(depths_obj, h));
        if (depths[h] == -1 && PyErr_Occurred())
            return NULL;
        if (depths[h] < -1 || depths[h] > 1024) {
            PyErr_SetString(PyExc_ValueError, "depth out of range");
            return NULL;
        }
    }
    Column cols[64];
    Py_ssize_t rows = -1, read = 0;
    Text t = TEXT_INIT;
    PyObject *out = NULL, *text = NULL;
    Py_ssize_t *starts = NULL, *ends = NULL;
    for (; read < holes; read++) {
        if (column_read(PyTuple_GET_ITEM(columns, read), &cols[read]) < 0)
            goto fail;
        if (rows >= 0 && cols[read].rows != rows) {
            read++;
            PyErr_SetString(PyExc_ValueError, "columns of texts of different lengths");
            goto fail;
        }
        rows = cols[read].rows;
    }
    if (groups == Py_None) {
        out = PyList_New(rows);
        if (out == NULL)
            goto fail;
        for (Py_ssize_t i = 0; i < rows; i++) {
            t.len = t.latin1 = 0;
            if (text_row(&t, pieces, cols, depths, holes, i, &ind) < 0)
                goto fail;
            if ((text = text_finish(&t)) == NULL)
                goto fail;
            PyList_SET_ITEM(out, i, text);
        }
    }
    else {
        Py_ssize_t n = PyList_Check(starts_obj) ? PyList_GET_SIZE(starts_obj) : -1;
        if ((starts = read_bounds(starts_obj, n, rows)) == NULL ||
            (ends = read_bounds(ends_obj, n, rows)) == NULL)
            goto fail;
        out = PyList_New(n);
        if (out == NULL)
            goto fail;
        for (Py_ssize_t g = 0; g < n; g++) {
            t.len = t.latin1 = 0;
            if (starts[g] >= ends[g]) {
                if (text_ascii(&t, "[]", 2) < 0)
                    goto fail;
            }
            else {
                if (text_ascii(&t, "[", 1) < 0)
                    goto fail;
                for (Py_ssize_t i = starts[g]; i < ends[g]; i++)
                    if ((i > starts[g] && text_str(&t, sep) < 0) ||
                        text_row(&t, pieces, cols, depths, holes, i, &ind) < 0)
                        goto fail;
                if (text_str(&t, close) < 0)
                    goto fail;
            }
            if ((text = text_finish(&t)) == NULL)
                goto fail;
            PyList_SET_ITEM(out, g, text);
        }
    }
    columns_release(cols, read);
    PyMem_Free(t.data);
    PyMem_Free(starts);
    PyMem_Free(ends);
    return out;
fail:
    columns_release(cols, read);
    PyMem_Free(t.data);
    PyMem_Free(starts);
    PyMem_Free(ends);
    Py_XDECREF(out);
    return NULL;
}

/* A memory-mapped capture that shrinks while it is read (tcpdump -C/-W rotating its ring of
 * files, logrotate's copytruncate, a file rewritten on a share) makes the next read of a page
 * past its new end raise SIGBUS: the process died with "Bus error" and nothing else. A
 * Python handler cannot help (it runs after the faulting instruction, which faults again), so
 * this one writes the line read/open.py prepared, naming the file, and ends the process with
 * exit 2 (unusable input). write() and _exit() are async-signal-safe. */
static char shrunk_message[8192];
static volatile sig_atomic_t shrunk_length = 0;

static void
on_sigbus(int signum)
{
    (void)signum;
    if (shrunk_length > 0) {
        ssize_t written = write(2, shrunk_message, (size_t)shrunk_length);
        (void)written;
    }
    _exit(2);
}

static PyObject *
on_mapped_file_shrunk(PyObject *self, PyObject *args)
{
    const char *text;
    Py_ssize_t length;
    struct sigaction action;
    (void)self;
    if (!PyArg_ParseTuple(args, "y#", &text, &length))
        return NULL;
    if (length >= (Py_ssize_t)sizeof shrunk_message)
        length = (Py_ssize_t)sizeof shrunk_message - 1;
    shrunk_length = 0; /* a SIGBUS meanwhile writes nothing half-copied */
    memcpy(shrunk_message, text, (size_t)length);
    shrunk_length = (sig_atomic_t)length;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigbus;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, NULL) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* read_heads(fd, at, length, width, out) -> None
 *
 * app/payloads.py::_heads for a source on disk: the first min(length[k], width) bytes of
 * file `fd` from offset at[k], one pread each, into row k of `out` (n rows of `width`
 * bytes, zeroed by the caller: what is not read, past a short length or the file's end,
 * stays 0). Returns how many reads the file's end cut short: every offset lies inside the
 * capture as it was read, so any means the file shrank since (the caller says so). The
 * bounded path's numbering pass reads three bytes of some 20,000 payloads per partition: a
 * Python call each cost 4 us, this loop the system call alone, the GIL released. A read
 * error is an OSError with its errno. */
static PyObject *
read_heads(PyObject *Py_UNUSED(module), PyObject *args)
{
    int fd;
    Py_ssize_t width;
    Py_buffer at = {0}, length = {0}, out = {0};
    Py_buffer *all[] = {&at, &length, &out};
    if (!PyArg_ParseTuple(args, "iy*y*nw*", &fd, &at, &length, &width, &out))
        goto fail;
    const Py_ssize_t n = at.len / 8;
    if (width < 0 || width > 4096) {
        PyErr_SetString(PyExc_ValueError, "width: 0 to 4096 bytes");
        goto fail;
    }
    if (check_len(&at, n, 8, "at") || check_len(&length, n, 8, "length")
        || check_len(&out, n, width, "out"))
        goto fail;
    const int64_t *a = at.buf, *l = length.buf;
    char *dst = out.buf;
    int err = 0;
    Py_ssize_t cut = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n && !err; k++) {
        const int64_t want = l[k] < width ? l[k] : width;
        if (want <= 0 || a[k] < 0)
            continue;
        int64_t got = 0;
        while (got < want) {
            const ssize_t r = pread(fd, dst + k * width + got, (size_t)(want - got),
                                    (off_t)(a[k] + got));
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                err = errno;
                break;
            }
            if (r == 0) {
                cut++; /* the file's end: the rest stays 0 */
                break;
            }
            got += r;
        }
    }
    Py_END_ALLOW_THREADS
    if (err) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        goto fail;
    }
    release_all(all, 3);
    return PyLong_FromSsize_t(cut);
fail:
    return finish(all, 3, 0);
}

static PyMethodDef methods[] = {
    {"on_mapped_file_shrunk", on_mapped_file_shrunk, METH_VARARGS,
     "On SIGBUS (a mapped file shrank), write this message to stderr and _exit(2)."},
    {"walk_pcap", walk_pcap, METH_VARARGS,
     "Offsets of classic pcap records (read/pcap.py::_walk_python, in C)."},
    {"epb_run", epb_run, METH_VARARGS,
     "Offsets of a run of complete pcapng Enhanced Packet Blocks."},
    {"gather_rows", gather_rows, METH_VARARGS,
     "Copy fixed-width rows at positions into an output buffer; False when out of range."},
    {"unwrap_runs", unwrap_runs, METH_VARARGS,
     "Unwrapped 32-bit values along runs of rows (facts.py::_unwrap)."},
    {"exclusive_running_max", exclusive_running_max, METH_VARARGS,
     "Per key, the max of values over earlier rows (facts.py::_exclusive_running_max)."},
    {"peer_scan", peer_scan, METH_VARARGS,
     "Per row, the other side's largest or latest earlier value in its connection."},
    {"nearest_rows", nearest_rows, METH_VARARGS,
     "Per row, the nearest earlier or later row of its connection by side (retransmit.py)."},
    {"first_at_least", first_at_least, METH_VARARGS,
     "Per query, the first index of a range whose value reaches a target (retransmit.py)."},
    {"partition_of", partition_of, METH_VARARGS,
     "Each row's partition: a hash of its unordered 4-tuple (partitioned.py::partition_of)."},
    {"group_order", group_order, METH_VARARGS,
     "Rows sorted by a dense key, stably: a counting sort (facts.py::_grouped_order)."},
    {"first_seen_ids", first_seen_ids, METH_VARARGS,
     "Each row's number among the distinct rows of columns, by first appearance (flows.py)."},
    {"identical_pairs", identical_pairs, METH_VARARGS,
     "Rows identical to a recent row of their direction (duplicates.py)."},
    {"ethernet_ipv4_tcp", ethernet_ipv4_tcp, METH_VARARGS,
     "Segment columns of the Ethernet/IPv4/TCP frames (decode/ethernet_ipv4_tcp.py)."},
    {"json_text", json_text, METH_VARARGS,
     "A JSON-native value laid out at a depth as json.dumps writes it (render/jsondoc.py)."},
    {"read_heads", read_heads, METH_VARARGS,
     "The first bytes of many payloads of a file, one pread each (app/payloads.py::_heads)."},
    {"fill", fill, METH_VARARGS,
     "Rows of a fixed JSON shape from columns of values, or arrays of them (jsondoc._Slots)."},
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
