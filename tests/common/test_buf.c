#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "buf.h"

TestSuite(common_buf);

Test(common_buf, starts_empty_and_fini_accepts_zeroed)
{
    struct buf b;
    buf_init(&b, 0);
    cr_assert_null(b.mem);
    cr_assert_null(buf_data(&b));
    cr_assert_eq(b.len, 0);
    struct slice s = buf_slice(&b);
    cr_assert_eq(s.len, 0);
    buf_append(&b, "x", 0); /* nothing to add: still no allocation */
    cr_assert_null(b.mem);
    buf_fini(&b);
    struct buf z = {0};
    buf_fini(&z);
}

Test(common_buf, grows_by_doubling_and_keeps_content)
{
    struct buf b;
    buf_init(&b, 0);
    char chunk[100];
    for (int i = 0; i < 100; i++)
        chunk[i] = (char)i;
    size_t caps = 0, last_cap = 0;
    for (int i = 0; i < 100; i++) {
        buf_append(&b, chunk, sizeof chunk);
        cr_assert_geq(b.cap, b.len);
        if (b.cap != last_cap) {
            if (last_cap)
                cr_assert_eq(b.cap % last_cap, 0, "cap %zu after %zu", b.cap, last_cap);
            last_cap = b.cap;
            caps++;
        }
    }
    cr_assert_eq(b.len, 10000);
    cr_assert_lt(caps, 10, "too many reallocations: %zu", caps);
    for (size_t i = 0; i < b.len; i++)
        cr_assert_eq(buf_data(&b)[i], (uint8_t)(i % 100));
    buf_fini(&b);
    cr_assert_null(b.mem);
}

Test(common_buf, putc_grows_from_empty)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        buf_putc(&b, (char)('a' + i % 26));
    cr_assert_eq(b.len, 1000);
    cr_assert_eq(buf_data(&b)[999], 'a' + 999 % 26);
    buf_fini(&b);
}

Test(common_buf, headroom_stays_in_front_of_the_payload)
{
    struct buf b;
    buf_init(&b, 16);
    buf_puts(&b, "hello");
    cr_assert_eq(buf_data(&b), b.mem + 16);
    /* Writing into the headroom (as lws_write does) must not touch the payload. */
    memset(b.mem, 0xAA, 16);
    for (int i = 0; i < 5000; i++)
        buf_putc(&b, '!');
    cr_assert_eq(buf_data(&b), b.mem + 16);
    cr_assert(memcmp(buf_data(&b), "hello!", 6) == 0);
    cr_assert_eq(b.mem[15], 0xAA, "headroom content must survive a realloc");
    buf_fini(&b);
}

Test(common_buf, reset_keeps_capacity)
{
    struct buf b;
    buf_init(&b, 4);
    buf_reserve(&b, 4000);
    size_t cap = b.cap;
    uint8_t *mem = b.mem;
    cr_assert_geq(cap, 4000);
    buf_puts(&b, "abc");
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, cap);
    cr_assert_eq(b.mem, mem);
    buf_append(&b, "xyz", 3);
    cr_assert_eq(b.mem, mem, "no reallocation after reset");
    cr_assert(memcmp(buf_data(&b), "xyz", 3) == 0);
    buf_fini(&b);
}

Test(common_buf, reserve_guarantees_room)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "12345");
    buf_reserve(&b, 1000);
    cr_assert_geq(b.cap - b.len, 1000);
    uint8_t *mem = b.mem;
    buf_append(&b, memset((char[1000]){0}, 'z', 1000), 1000);
    cr_assert_eq(b.mem, mem);
    cr_assert_eq(b.len, 1005);
    buf_fini(&b);
}

Test(common_buf, printf_appends_formatted)
{
    struct buf b;
    buf_init(&b, 8);
    buf_puts(&b, "n=");
    buf_printf(&b, "%d,%s", 42, "x");
    cr_assert_eq(b.len, 6);
    cr_assert(memcmp(buf_data(&b), "n=42,x", 6) == 0);
    char big[600];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "[%s]", big);
    cr_assert_eq(b.len, 6 + 601);
    cr_assert_eq(buf_data(&b)[b.len - 1], ']');
    cr_assert_eq(buf_data(&b)[6], '[');
    buf_printf(&b, "%s", "");
    cr_assert_eq(b.len, 607);
    buf_fini(&b);
}

Test(common_buf, slices_compare_by_content)
{
    cr_assert(slice_eq(slice_str("abc"), slice_str("abc")));
    cr_assert_not(slice_eq(slice_str("abc"), slice_str("abd")));
    cr_assert_not(slice_eq(slice_str("abc"), slice_str("ab")));
    cr_assert(slice_eq(slice_str(""), (struct slice){NULL, 0}));
}

Test(common_buf, big_endian_keys_sort_numerically)
{
    uint8_t a[8], b[8];
    put_be64(a, 9);
    put_be64(b, 10);
    cr_assert_lt(memcmp(a, b, 8), 0);
    put_be64(a, 0x0102030405060708ULL);
    cr_assert_eq(a[0], 1);
    cr_assert_eq(a[7], 8);
    cr_assert_eq(get_be64(a), 0x0102030405060708ULL);
    put_be64(a, UINT64_MAX);
    cr_assert_eq(get_be64(a), UINT64_MAX);
    uint8_t c[4];
    put_be32(c, 0xA1B2C3D4u);
    cr_assert_eq(c[0], 0xA1);
    cr_assert_eq(get_be32(c), 0xA1B2C3D4u);
}

Test(common_buf, string_helpers_copy)
{
    char *s = xstrndup("abcdef", 3);
    cr_assert_str_eq(s, "abc");
    free(s);
    s = xstrdup("");
    cr_assert_str_eq(s, "");
    free(s);
    int *z = xcalloc(4, sizeof *z);
    cr_assert_eq(z[0] | z[1] | z[2] | z[3], 0);
    z = xrealloc(z, 100 * sizeof *z);
    free(z);
}

Test(common_buf, impossible_reservation_aborts, .signal = SIGABRT)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "x");
    buf_reserve(&b, SIZE_MAX - 4);
}

/* The pages of a buffer of 1 MiB or more are present before it is written
 * (one madvise instead of a fault per 4 KiB page), also the part it grows by. */
static size_t resident_pages(const uint8_t *p, size_t n)
{
    uintptr_t page = 4096, lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    size_t count = (hi - lo) / page, res = 0;
    unsigned char *v = calloc(count + 1, 1);
    cr_assert_eq(mincore((void *)lo, hi - lo, v), 0);
    for (size_t i = 0; i < count; i++)
        res += v[i] & 1;
    free(v);
    cr_assert_gt(count, 0);
    return res * 100 / count;
}

Test(common_buf, a_big_buffer_is_present_before_it_is_written)
{
    struct buf b;
    buf_init(&b, 0);
    buf_reserve(&b, 3u << 20);
    cr_assert_eq(resident_pages(b.mem, b.cap), 100, "a fresh 4 MiB buffer's pages are present");
    b.len = b.cap;
    buf_reserve(&b, 1); /* doubles: the new half too */
    cr_assert_eq(resident_pages(b.mem + b.len, b.cap - b.len), 100);
    buf_fini(&b);
}
