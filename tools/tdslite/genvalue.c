/*
 * Plausible ConnectWise values by column name. The word lists mix plain
 * ASCII with names that stress the UTF-8 <-> UTF-16 path ("Zoë", "Müller",
 * "東京", "Ørsted") so that every client sees non-ASCII text.
 */
#include "genvalue.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- PRNG ------------------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed, const char *salt)
{
    uint64_t x = seed;
    for (const char *p = salt; p && *p; p++)
        x = (x ^ (uint8_t)*p) * 0x100000001B3ULL; /* FNV-1a step: each table its own stream */
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

uint64_t rng_below(struct rng *r, uint64_t n) { return rng_next(r) % n; }
bool rng_chance(struct rng *r, unsigned percent) { return rng_below(r, 100) < percent; }

#define PICK(r, arr) ((arr)[rng_below((r), sizeof(arr) / sizeof *(arr))])

/* ---- word lists ------------------------------------------------------------------------------ */

static const char *const first_names[] = {
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "Zoë", "José", "Chloé", "Björn", "Søren", "François", "Aoife", "Siobhán",
    "Łukasz", "Ahmed", "Priya", "Wei", "Yuki", "Olga", "Nikos", "Amélie", "Kai", "Fatima",
};
static const char *const last_names[] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Müller",
    "Schröder", "O'Brien", "Nuñez", "Dubois", "Kowalski", "Nakamura", "Østergaard", "Ivanova",
    "Papadopoulos", "Chen", "Kim", "Patel", "Nguyen", "Andersson", "van der Berg", "D'Angelo",
};
static const char *const company_words[] = {
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Tyrell",
    "Cyberdyne", "Soylent", "Northwind", "Contoso", "Fabrikam", "Ørsted", "Zürich", "東京",
    "Blue Ridge", "Summit", "Pioneer", "Harbor", "Cascade", "Evergreen", "Keystone", "Redwood",
};
static const char *const company_kinds[] = {
    "Widgets", "Logistics", "Dental", "Legal", "Manufacturing", "Consulting", "Foods", "Health",
    "Realty", "Engineering", "Bakery", "Motors", "Systems", "Partners", "Holdings", "Café",
};
static const char *const company_suffixes[] = {
    "Inc.", "LLC", "Ltd", "GmbH", "S.A.", "Pty Ltd", "Co.", "Group", "AG", "KK",
};
static const char *const cities[] = {
    "Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "München", "Québec",
    "São Paulo", "Kraków", "Tokyo", "Dublin", "Austin", "Portland", "Denver", "Tampa",
};
static const char *const streets[] = {
    "Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St", "Lake View Blvd",
    "Hauptstraße", "Rue de la Paix", "Market St", "Industrial Pkwy", "Harbor Way",
};
static const char *const states[] = {"FL", "TX", "CA", "NY", "WA", "OR", "CO", "IL", "GA", "ON"};
static const char *const products[] = {
    "Laptop 14\"", "Docking Station", "27\" Monitor", "Firewall Appliance", "Managed Switch 24p",
    "Wireless AP", "UPS 1500VA", "NAS 4-Bay", "Backup License", "Antivirus Seat",
    "Microsoft 365 Business", "Cat6 Cable 3m", "USB-C Hub", "Headset", "Server Rack 42U",
};
static const char *const lookup_words[] = {
    "Active", "Inactive", "Pending", "Standard", "Premium", "Internal", "External", "Default",
    "Gold", "Silver", "Bronze", "Net 30", "Net 60", "Due on receipt", "Weekly", "Monthly",
    "Hardware", "Software", "Services", "Remote", "On-site", "Critical", "High", "Low",
};
static const char *const lorem[] = {
    "Customer requested a follow-up next quarter.", "Renewal is due before year end.",
    "Prefers contact by email.", "Über-wichtig: Lieferung nur werktags.",
    "Network refresh planned; budget approved.", "Multiple sites; see address list.",
    "Escalate billing questions to the account manager.", "Onboarding finished — all users active.",
};
static const char *const member_ids[] = {"admin", "jsmith", "mgarcia", "tnguyen", "zoe.m",
                                         "kmuller", "api-sync", "system"};
static const char *const domains[] = {"example.com", "example.org", "example.net", "mail.test"};

/* ---- classification -------------------------------------------------------------------------- */

static bool has(const char *name, const char *part) { return strcasestr(name, part) != NULL; }

void gv_col_classify(struct gv_col *c)
{
    if (c->role != GV_PLAIN)
        return;
    bool when = c->type.kind == TK_DATETIME || c->type.kind == TK_DATETIME2;
    if (when && strcasecmp(c->name, "Last_Update") == 0)
        c->role = GV_LAST_UPDATE;
    else if (when && strcasecmp(c->name, "Last_Update_UTC") == 0)
        c->role = GV_LAST_UPDATE_UTC;
    else if (when && has(c->name, "Entered"))
        c->role = GV_DATE_ENTERED;
}

/* ---- time ------------------------------------------------------------------------------------ */

#define GEN_START_S 1420070400LL /* 2015-01-01 */
#define GEN_SPAN_S 325000000LL   /* about ten years and four months */
#define LOCAL_OFFSET_S (5 * 3600) /* Last_Update is local time: UTC-5 */
#define BULK_ROWS 2500

/* The last update of row id (UTC seconds, 100 ns fraction). */
static int64_t row_time(const struct gv_table *t, uint64_t id, struct rng *r,
                        const struct gv_clock *clk, uint32_t *frac)
{
    if (clk->churn) {
        *frac = (uint32_t)rng_below(r, 10000000);
        return clk->now_s - clk->late_s;
    }
    uint64_t rows = t->rows ? t->rows : 1;
    /* Bulk imports of thousands of rows; small tables get proportionally smaller ones. */
    uint64_t bulk = rows / 10 < BULK_ROWS ? rows / 10 : BULK_ROWS;
    uint64_t group = bulk >= 20 ? (id - 1) / bulk : 1;
    if (group % 3 == 0) {
        /* every row of the group has the same timestamp */
        *frac = (uint32_t)((group * 7919) % 300) * 33333u;
        return GEN_START_S + (int64_t)(group * bulk * (uint64_t)GEN_SPAN_S / rows);
    }
    *frac = (uint32_t)rng_below(r, 10000000);
    if (rng_chance(r, 10)) /* touched recently */
        return GEN_START_S + GEN_SPAN_S - (int64_t)rng_below(r, 30 * 86400);
    return GEN_START_S + (int64_t)((id - 1) * (uint64_t)GEN_SPAN_S / rows) +
           (int64_t)rng_below(r, 3600);
}

static void bind_when(sqlite3_stmt *st, int idx, const struct tds_type *ty, int64_t secs,
                      uint32_t frac)
{
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    struct tds_when w = {.days = (int32_t)(days + 719162),
                         .ticks = (uint64_t)sod * 10000000ULL + frac};
    int32_t d;
    uint32_t t300;
    if (ty->kind == TK_DATETIME && tds_when_to_datetime(&w, &d, &t300) == 0)
        tds_when_from_datetime(d, t300, &w); /* datetime keeps 1/300 s: .000 .003 .007 */
    char out[28];
    tds_when_format(&w, ty->kind == TK_DATE, out);
    sqlite3_bind_text(st, idx, out, -1, SQLITE_TRANSIENT);
}

/* ---- strings --------------------------------------------------------------------------------- */

static void bind_str(sqlite3_stmt *st, int idx, const struct tds_type *ty, const char *s)
{
    /* Cut at the declared length (in characters), never inside a UTF-8 sequence. */
    size_t len = strlen(s);
    if (ty->length != TDS_LEN_MAX) {
        size_t chars = 0, i = 0;
        while (i < len && chars < ty->length) {
            i++;
            while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
                i++;
            chars++;
        }
        len = i;
    }
    sqlite3_bind_text(st, idx, s, (int)len, SQLITE_TRANSIENT);
}

static void text_for(const struct gv_table *t, const struct gv_col *c, uint64_t id,
                     struct rng *r, char *out, size_t n)
{
    const char *nm = c->name;
    const char *fn = PICK(r, first_names), *ln = PICK(r, last_names);
    if (has(nm, "Email"))
        snprintf(out, n, "contact%llu@%s", (unsigned long long)id, PICK(r, domains));
    else if (has(nm, "Phone") || has(nm, "Fax"))
        snprintf(out, n, "+1 555 %03u %04u", (unsigned)rng_below(r, 1000), (unsigned)rng_below(r, 10000));
    else if (has(nm, "Website") || has(nm, "URL"))
        snprintf(out, n, "https://www.%s/%llu", PICK(r, domains), (unsigned long long)id);
    else if (has(nm, "First_Name"))
        snprintf(out, n, "%s", fn);
    else if (has(nm, "Last_Name"))
        snprintf(out, n, "%s", ln);
    else if (has(nm, "Company_Name") || (has(t->name, "Company") && has(nm, "Name")))
        snprintf(out, n, "%s %s %s", PICK(r, company_words), PICK(r, company_kinds),
                 PICK(r, company_suffixes));
    else if (has(nm, "Company_ID"))
        snprintf(out, n, "%s%llu", PICK(r, company_words), (unsigned long long)id);
    else if (has(nm, "Address") || has(nm, "Line"))
        snprintf(out, n, "%u %s", (unsigned)rng_below(r, 9000) + 1, PICK(r, streets));
    else if (has(nm, "City"))
        snprintf(out, n, "%s", PICK(r, cities));
    else if (has(nm, "State"))
        snprintf(out, n, "%s", PICK(r, states));
    else if (has(nm, "Zip") || has(nm, "Postal"))
        snprintf(out, n, "%05u", (unsigned)rng_below(r, 100000));
    else if (has(nm, "Item_ID") || has(nm, "SKU") || has(nm, "Part"))
        snprintf(out, n, "SKU-%06llu", (unsigned long long)id);
    else if (has(nm, "Member_ID") || has(nm, "_By") || has(nm, "Identifier") || has(nm, "Owner"))
        snprintf(out, n, "%s", PICK(r, member_ids));
    else if (has(nm, "Note") || has(nm, "Long_Description") || has(nm, "Comment"))
        snprintf(out, n, "%s %s", PICK(r, lorem), PICK(r, lorem));
    else if (has(t->name, "IV_Item") && has(nm, "Description"))
        snprintf(out, n, "%s %s", PICK(r, company_words), PICK(r, products));
    else if (has(nm, "Title"))
        snprintf(out, n, "%s %s", PICK(r, lookup_words), "Manager");
    else if (has(nm, "Name"))
        snprintf(out, n, "%s %s", fn, ln);
    else if (has(nm, "Code") || has(nm, "Abbrev"))
        snprintf(out, n, "%c%c%u", 'A' + (int)rng_below(r, 26), 'A' + (int)rng_below(r, 26),
                 (unsigned)rng_below(r, 100));
    else
        snprintf(out, n, "%s %llu", PICK(r, lookup_words), (unsigned long long)(id % 1000));
}

/* ---- numbers --------------------------------------------------------------------------------- */

static void bind_number(sqlite3_stmt *st, int idx, const struct gv_col *c, struct rng *r)
{
    switch (c->type.kind) {
    case TK_BIT:
        sqlite3_bind_int(st, idx, rng_chance(r, has(c->name, "Inactive") || has(c->name, "Delete")
                                                    ? 8
                                                    : 50));
        break;
    case TK_INT:
        sqlite3_bind_int64(st, idx, (sqlite3_int64)rng_below(r, c->type.size == 1 ? 200 : 1000));
        break;
    case TK_MONEY:
    case TK_FLOAT: {
        /* Whole cents: what a price list holds. */
        double v = (double)rng_below(r, 500000) / 100.0;
        sqlite3_bind_double(st, idx, v);
        break;
    }
    case TK_DECIMAL: {
        uint64_t lim = 1;
        for (int i = 0; i < c->type.precision - c->type.scale && i < 6; i++)
            lim *= 10;
        double v = (double)rng_below(r, lim * 100) / 100.0;
        sqlite3_bind_double(st, idx, v);
        break;
    }
    default:
        sqlite3_bind_null(st, idx);
    }
}

static void bind_guid(sqlite3_stmt *st, int idx, struct rng *r)
{
    uint8_t g[16];
    uint64_t a = rng_next(r), b = rng_next(r);
    memcpy(g, &a, 8);
    memcpy(g + 8, &b, 8);
    char out[37];
    tds_guid_format(g, out);
    sqlite3_bind_text(st, idx, out, 36, SQLITE_TRANSIENT);
}

void gv_value_bind(sqlite3_stmt *st, int idx, const struct gv_table *t, const struct gv_col *c,
                   uint64_t id, struct rng *r, const struct gv_clock *clk)
{
    uint32_t frac;
    switch (c->role) {
    case GV_PK:
        sqlite3_bind_int64(st, idx, (sqlite3_int64)id);
        return;
    case GV_FK:
        if ((c->nullable && rng_chance(r, 5)) || c->fk_max == 0)
            sqlite3_bind_null(st, idx);
        else
            sqlite3_bind_int64(st, idx, (sqlite3_int64)(1 + rng_below(r, c->fk_max)));
        return;
    case GV_SELF_FK: /* parents are older rows: no cycles, ever */
        if (id <= 1 || rng_chance(r, 85))
            sqlite3_bind_null(st, idx);
        else
            sqlite3_bind_int64(st, idx, (sqlite3_int64)(1 + rng_below(r, id - 1)));
        return;
    case GV_LAST_UPDATE:
    case GV_LAST_UPDATE_UTC: {
        /* Both columns come from one stream position: re-seeded per row so
         * that Last_Update and Last_Update_UTC describe the same instant. */
        struct rng rr;
        rng_seed(&rr, t->seed ^ (id * 0x9E3779B97F4A7C15ULL), "time");
        int64_t s = row_time(t, id, &rr, clk, &frac);
        bind_when(st, idx, &c->type, c->role == GV_LAST_UPDATE ? s - LOCAL_OFFSET_S : s, frac);
        return;
    }
    case GV_DATE_ENTERED: {
        struct rng rr;
        rng_seed(&rr, t->seed ^ (id * 0x9E3779B97F4A7C15ULL), "time");
        int64_t s = row_time(t, id, &rr, clk, &frac) - (int64_t)(id % 97) * 86400;
        bind_when(st, idx, &c->type, s, 0);
        return;
    }
    case GV_PLAIN:
        break;
    }
    if (c->nullable && rng_chance(r, 12)) {
        sqlite3_bind_null(st, idx);
        return;
    }
    char text[512];
    switch (c->type.kind) {
    case TK_NVARCHAR:
    case TK_VARCHAR:
        text_for(t, c, id, r, text, sizeof text);
        bind_str(st, idx, &c->type, text);
        break;
    case TK_GUID:
        bind_guid(st, idx, r);
        break;
    case TK_DATETIME:
    case TK_DATETIME2:
    case TK_DATE:
        bind_when(st, idx, &c->type, GEN_START_S + (int64_t)rng_below(r, GEN_SPAN_S),
                  (uint32_t)rng_below(r, 10000000));
        break;
    case TK_VARBINARY: {
        uint64_t b[4] = {rng_next(r), rng_next(r), rng_next(r), rng_next(r)};
        sqlite3_bind_blob(st, idx, b, (int)(8 + rng_below(r, 24)), SQLITE_TRANSIENT);
        break;
    }
    default:
        bind_number(st, idx, c, r);
    }
}

void gv_row_bind(sqlite3_stmt *st, const struct gv_table *t, uint64_t id, struct rng *r,
                 const struct gv_clock *clk)
{
    for (size_t i = 0; i < t->n_cols; i++)
        gv_value_bind(st, (int)i + 1, t, &t->cols[i], id, r, clk);
}
