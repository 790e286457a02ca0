/* tools/tdslite/packet.c: message reassembly, bad packets, packetized replies. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../tools/tdslite/tdslite.h"

static int sv[2];
static struct tds_conn conn;

static void setup(void)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    tds_conn_init(&conn, sv[0], 52);
    signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
    tds_conn_fini(&conn);
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
}

TestSuite(tdslite_packet, .init = setup, .fini = teardown);

/* Sends one packet from the client side. */
static void pkt(uint8_t type, uint8_t status, const void *payload, size_t n)
{
    uint8_t h[8] = {type, status, (uint8_t)((n + 8) >> 8), (uint8_t)(n + 8), 0, 0, 1, 0};
    cr_assert_eq(write(sv[1], h, 8), 8);
    if (n)
        cr_assert_eq(write(sv[1], payload, n), (ssize_t)n);
}

static void client_close(void)
{
    close(sv[1]);
    sv[1] = -1;
}

Test(tdslite_packet, one_packet_is_one_message)
{
    pkt(TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, "abc", 3);
    cr_assert_eq(tds_msg_read(&conn), 0);
    cr_assert_eq(conn.msg_type, TDS_PKT_SQL_BATCH);
    cr_assert_eq(conn.msg.len, 3);
    cr_assert_eq(memcmp(buf_data(&conn.msg), "abc", 3), 0);
}

Test(tdslite_packet, packets_are_joined_until_eom)
{
    pkt(TDS_PKT_RPC, 0, "ab", 2);
    pkt(TDS_PKT_RPC, 0, "cd", 2);
    pkt(TDS_PKT_RPC, TDS_STATUS_EOM, "e", 1);
    pkt(TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, "next", 4);
    cr_assert_eq(tds_msg_read(&conn), 0);
    cr_assert_eq(conn.msg_type, TDS_PKT_RPC);
    cr_assert_eq(conn.msg.len, 5);
    cr_assert_eq(memcmp(buf_data(&conn.msg), "abcde", 5), 0);
    cr_assert_eq(tds_msg_read(&conn), 0, "the following message is intact");
    cr_assert_eq(conn.msg_type, TDS_PKT_SQL_BATCH);
    cr_assert_eq(conn.msg.len, 4);
}

Test(tdslite_packet, clean_close_between_messages_is_a_goodbye)
{
    client_close();
    cr_assert_eq(tds_msg_read(&conn), -ECONNRESET);
}

Test(tdslite_packet, truncated_packet_is_a_protocol_error)
{
    uint8_t h[8] = {TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, 0, 100, 0, 0, 1, 0};
    cr_assert_eq(write(sv[1], h, 8), 8);
    cr_assert_eq(write(sv[1], "short", 5), 5);
    client_close();
    cr_assert_eq(tds_msg_read(&conn), -EPROTO);
}

Test(tdslite_packet, truncated_message_is_a_protocol_error)
{
    pkt(TDS_PKT_SQL_BATCH, 0, "ab", 2);
    client_close();
    cr_assert_eq(tds_msg_read(&conn), -EPROTO);
}

Test(tdslite_packet, length_below_header_is_rejected)
{
    uint8_t h[8] = {TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, 0, 4, 0, 0, 1, 0};
    cr_assert_eq(write(sv[1], h, 8), 8);
    cr_assert_eq(tds_msg_read(&conn), -EPROTO);
}

Test(tdslite_packet, huge_length_is_rejected_without_waiting)
{
    uint8_t h[8] = {TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, 0xFF, 0xFF, 0, 0, 1, 0};
    cr_assert_eq(write(sv[1], h, 8), 8);
    cr_assert_eq(tds_msg_read(&conn), -EPROTO);
}

Test(tdslite_packet, type_change_inside_a_message_is_rejected)
{
    pkt(TDS_PKT_RPC, 0, "ab", 2);
    pkt(TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, "cd", 2);
    cr_assert_eq(tds_msg_read(&conn), -EPROTO);
}

Test(tdslite_packet, garbage_is_rejected)
{
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(write(sv[1], junk, sizeof junk - 1), (ssize_t)sizeof junk - 1);
    client_close();
    /* "GE" + "T " reads as a 0x2054-byte packet that never completes */
    cr_assert_eq(tds_msg_read(&conn), -EPROTO);
}

Test(tdslite_packet, attention_inside_a_message_wins)
{
    pkt(TDS_PKT_SQL_BATCH, 0, "ab", 2);
    pkt(TDS_PKT_ATTENTION, TDS_STATUS_EOM, NULL, 0);
    cr_assert_eq(tds_msg_read(&conn), 0);
    cr_assert_eq(conn.msg_type, TDS_PKT_ATTENTION);
    cr_assert_eq(conn.msg.len, 0);
}

Test(tdslite_packet, oversized_message_is_refused, .timeout = 30)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* the client: a message that never ends */
        close(sv[0]);
        static uint8_t big[TDS_PKT_MAX];
        big[0] = TDS_PKT_SQL_BATCH;
        big[2] = (uint8_t)(TDS_PKT_MAX >> 8);
        big[3] = (uint8_t)TDS_PKT_MAX;
        while (write(sv[1], big, sizeof big) == (ssize_t)sizeof big)
            ;
        _exit(0);
    }
    client_close();
    cr_assert_eq(tds_msg_read(&conn), -EMSGSIZE);
    close(sv[0]);
    waitpid(pid, NULL, 0);
    sv[0] = socket(AF_UNIX, SOCK_STREAM, 0); /* so teardown closes something valid */
}

/* Reads back what the server side wrote: returns the packets' payloads joined. */
static size_t read_reply(uint8_t *out, size_t cap, unsigned psize, int *packets)
{
    size_t n = 0;
    *packets = 0;
    for (;;) {
        uint8_t h[8];
        cr_assert_eq(recv(sv[1], h, 8, MSG_WAITALL), 8);
        size_t len = (size_t)h[2] << 8 | h[3];
        cr_assert_eq(h[0], TDS_PKT_REPLY);
        cr_assert_leq(len, psize, "packet of %zu bytes exceeds the packet size %u", len, psize);
        cr_assert_eq(h[6], (uint8_t)(*packets + 1), "packet ids count from 1");
        cr_assert_eq(h[4] << 8 | h[5], 52, "SPID in every header");
        cr_assert_leq(n + len - 8, cap);
        cr_assert_eq(recv(sv[1], out + n, len - 8, MSG_WAITALL), (ssize_t)(len - 8));
        n += len - 8;
        (*packets)++;
        if (h[1] & TDS_STATUS_EOM)
            return n;
        cr_assert_eq(len, psize, "only the last packet may be short");
    }
}

Test(tdslite_packet, reply_is_split_at_the_packet_size)
{
    conn.packet_size = 512;
    static uint8_t data[5000], back[6000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    tds_out_begin(&conn, TDS_PKT_REPLY);
    tds_put(&conn, data, 1000);
    for (size_t i = 1000; i < sizeof data; i++)
        tds_put_u8(&conn, data[i]); /* byte by byte across packet boundaries */
    cr_assert_eq(tds_out_end(&conn), 0);
    int packets;
    size_t n = read_reply(back, sizeof back, 512, &packets);
    cr_assert_eq(n, sizeof data);
    cr_assert_eq(memcmp(back, data, n), 0);
    cr_assert_eq(packets, (int)((sizeof data + 503) / 504));
}

Test(tdslite_packet, large_reply_round_trips_through_flushes, .timeout = 30)
{
    conn.packet_size = 4096;
    size_t total = 3u << 20; /* several flushes of 64 KiB */
    pid_t pid = fork();
    if (pid == 0) {
        static uint8_t back[3u << 20];
        int packets;
        size_t n = read_reply(back, sizeof back, 4096, &packets);
        for (size_t i = 0; i < n; i++)
            if (back[i] != (uint8_t)(i % 251))
                _exit(2);
        _exit(n == total ? 0 : 1);
    }
    tds_out_begin(&conn, TDS_PKT_REPLY);
    for (size_t i = 0; i < total; i++)
        tds_put_u8(&conn, (uint8_t)(i % 251));
    cr_assert_eq(tds_out_end(&conn), 0);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client saw %d", WEXITSTATUS(st));
}

Test(tdslite_packet, write_to_a_gone_client_fails_cleanly)
{
    client_close();
    tds_out_begin(&conn, TDS_PKT_REPLY);
    tds_put(&conn, "x", 1);
    cr_assert_eq(tds_out_end(&conn), -EPIPE);
}

Test(tdslite_packet, attention_is_noticed_while_answering)
{
    pkt(TDS_PKT_ATTENTION, TDS_STATUS_EOM, NULL, 0);
    tds_attn_poll(&conn);
    cr_assert(conn.attention);
}

Test(tdslite_packet, other_data_is_not_taken_for_attention)
{
    pkt(TDS_PKT_SQL_BATCH, TDS_STATUS_EOM, "x", 1);
    tds_attn_poll(&conn);
    cr_assert_not(conn.attention);
    cr_assert_eq(tds_msg_read(&conn), 0, "the request stays readable");
    cr_assert_eq(conn.msg_type, TDS_PKT_SQL_BATCH);
}

Test(tdslite_packet, bounded_reader_stops_at_the_end)
{
    static const uint8_t b[] = {1, 2, 3};
    struct tds_rd r = {.p = b, .len = sizeof b};
    cr_assert_eq(tds_rd_u16(&r), 0x0201);
    cr_assert_eq(tds_rd_u32(&r), 0, "reading past the end yields 0");
    cr_assert(r.bad);
    cr_assert_eq(tds_rd_u8(&r), 0, "and stays bad");
}
