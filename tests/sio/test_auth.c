#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>

#include "sio/auth.h"

Test(sio_auth, ids_are_url_safe_and_carry_their_slot)
{
    char id[SIO_ID_LEN + 1];
    uint32_t slot;
    uint32_t slots[] = {0, 1, 63, 64, 65535, 0xffffffffu};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        sio_id_make(id, slots[i]);
        cr_assert_eq(strlen(id), SIO_ID_LEN);
        cr_assert_eq(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     SIO_ID_LEN);
        cr_assert_eq(sio_id_slot(id, strlen(id), &slot), 0);
        cr_assert_eq(slot, slots[i]);
    }
}

Test(sio_auth, ids_of_one_slot_differ)
{
    char a[SIO_ID_LEN + 1], b[SIO_ID_LEN + 1];
    sio_id_make(a, 5);
    sio_id_make(b, 5);
    cr_assert_str_neq(a, b);
}

Test(sio_auth, malformed_ids_are_refused)
{
    uint32_t slot;
    cr_assert_eq(sio_id_slot("", 0, &slot), -EINVAL);
    cr_assert_eq(sio_id_slot("abc", 3, &slot), -EINVAL);
    cr_assert_eq(sio_id_slot("AAAAAAAAAAAAAAAAAAA=", 20, &slot), -EINVAL);
    cr_assert_eq(sio_id_slot("AAAAAAAAAAAAAAAAAAAAA", 21, &slot), -EINVAL);
    cr_assert_eq(sio_id_slot("AAAAAAAAAA\0AAAAAAAAA", 20, &slot), -EINVAL);
    /* standard base64's characters are not base64url's */
    cr_assert_eq(sio_id_slot("AAAAAAAAAA+AAAAAAAAA", 20, &slot), -EINVAL);
    cr_assert_eq(sio_id_slot("AAAAAAAAAA/AAAAAAAAA", 20, &slot), -EINVAL);
}

Test(sio_auth, psk_compare)
{
    cr_assert(sio_psk_equal("secret", "secret", 6));
    cr_assert_not(sio_psk_equal("secret", "secreT", 6));
    cr_assert_not(sio_psk_equal("secret", "secre", 5));
    cr_assert_not(sio_psk_equal("secret", "secrets", 7));
    cr_assert_not(sio_psk_equal("secret", "", 0));
    cr_assert_not(sio_psk_equal("secret", "secret\0", 7));
}

Test(sio_auth, failures_are_delayed_exponentially_and_capped)
{
    static struct sio_auth_table t;
    t.base_ms = 100;
    t.max_ms = 1000;
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1000), 0);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1001), 0);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1002), 100);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1003), 200);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1004), 400);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1005), 800);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1006), 1000);
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1007), 1000);
    /* Another address starts afresh. */
    cr_assert_eq(sio_auth_fail(&t, "5.6.7.8", 1008), 0);
    /* Forgiven after a quiet period. */
    cr_assert_eq(sio_auth_fail(&t, "1.2.3.4", 1007 + SIO_AUTH_FORGET_MS + 1), 0);
}

Test(sio_auth, table_stays_bounded_and_evicts_the_oldest)
{
    static struct sio_auth_table t;
    t.base_ms = 100;
    t.max_ms = 1000;
    char addr[48];
    for (int i = 0; i < 3; i++)
        (void)sio_auth_fail(&t, "victim", 1);
    for (int i = 0; i < SIO_AUTH_SLOTS; i++) {
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 256, i % 256);
        (void)sio_auth_fail(&t, addr, 100 + i);
    }
    /* "victim" was the oldest entry: it was evicted and starts over. */
    cr_assert_eq(sio_auth_fail(&t, "victim", 10000), 0);
}
