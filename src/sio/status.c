/*
 * GET /status and GET /status.json: a read-only status page for operators,
 * showing what `cwcachectl status` shows (the JSON has the same shape as
 * `cwcachectl status --json`, plus the server's own figures).
 *
 * Both answer only clients that present the PSK, as a header x-psk or a
 * query ?psk= (compared in constant time), and 401 otherwise: the page
 * names tables and error texts from the source database. The page is plain
 * HTML with a little JavaScript, no external assets and no build step,
 * embedded here as a C string; it fetches status.json with the query it
 * was loaded with and refreshes itself every five seconds.
 */
#include "sio/sio_int.h"

#include <string.h>

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>cwcache status</title>\n"
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}\n"
    "h1{font-size:20px;margin:0 0 4px}\n"
    "#summary{margin:8px 0 16px;padding:10px 14px;border-radius:6px;font-weight:600}\n"
    ".ok{background:#d8f3dc;color:#1b4332}.bad{background:#ffe0e0;color:#7a1010}\n"
    ".stale{background:#fff3c4;color:#5c4400}\n"
    "table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}\n"
    "th,td{padding:5px 8px;border-bottom:1px solid #e4e6ea;text-align:left;white-space:nowrap}\n"
    "th{background:#2b3445;color:#fff;font-weight:600;position:sticky;top:0}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.err{white-space:normal;color:#7a1010}\n"
    ".st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}\n"
    ".warm{background:#2d6a4f;color:#fff}.warming{background:#e9a400;color:#fff}"
    ".cold{background:#6c757d;color:#fff}\n"
    "#meta{color:#5a6372;font-size:12px}\n"
    "</style></head><body>\n"
    "<h1>cwcache status</h1>\n"
    "<div id=\"meta\">loading&hellip;</div>\n"
    "<div id=\"summary\" class=\"stale\">waiting for the first answer</div>\n"
    "<div id=\"source\"></div>\n"
    "<table><thead><tr><th>Model</th><th>Needed</th><th>State</th><th>Rows</th>"
    "<th>Cursor: last update (column, zone) #RecID</th><th>Lag</th><th>Matched source</th>"
    "<th>Last run</th><th>Duration</th>"
    "<th>Result</th><th>Error</th></tr></thead><tbody id=\"rows\"></tbody></table>\n"
    "<script>\n"
    "'use strict';\n"
    "function dur(s){if(s===null||s===undefined)return '-';if(s<1)return Math.round(s*1000)+' ms';"
    "if(s<60)return s.toFixed(1)+' s';if(s<3600)return Math.floor(s/60)+' min '+Math.round(s%60)+' "
    "s';"
    "return Math.floor(s/3600)+' h '+Math.round(s%3600/60)+' min';}\n"
    "function cell(tr,text,cls){const td=document.createElement('td');td.textContent=text;"
    "if(cls)td.className=cls;tr.appendChild(td);return td;}\n"
    "function row(m){const tr=document.createElement('tr');cell(tr,m.model);"
    "cell(tr,m.needed?'yes':'');const st=document.createElement('span');"
    "st.className='st '+m.state;st.textContent=m.state;cell(tr,'').appendChild(st);"
    "cell(tr,m.rows.toLocaleString('en'),'n');"
    "cell(tr,m.cursor?m.cursor.lastUpdate+' ('+m.cursor.column+', '+m.cursor.zone+') #'+"
    "m.cursor.recId:'-');cell(tr,dur(m.lagSeconds),'n');"
    "cell(tr,m.stalenessSeconds===null?'never':dur(m.stalenessSeconds)+' ago','n');"
    "cell(tr,m.lastRunEnd||'-');cell(tr,m.lastRunEnd?dur(m.lastRunMs/1000):'-','n');"
    "cell(tr,m.lastStatus||'-');cell(tr,m.lastError||'','err');"
    "return tr;}\n"
    "function source(s){const el=document.getElementById('source');"
    "el.className=s.state==='down'?'bad':'';el.id='source';"
    "el.textContent='Source: '+(s.state==='up'?'reachable':s.state==='down'?"
    "'UNREACHABLE since '+s.since+': '+s.error:'not polled yet')+"
    "'; last successful poll '+(s.lastSuccess||'never');}\n"
    "function show(d){const s=d.summary,el=document.getElementById('summary');source(d.source);"
    "el.className=s.ready?'ok':'bad';"
    "el.textContent=(s.ready?'Ready':'NOT READY')+': '+s.models+' models, '+s.warm+' warm, '+"
    "s.warming+' warming, '+s.cold+' cold, '+s.failed+' failed; '+s.rows.toLocaleString('en')+' "
    "rows';"
    "const tb=document.getElementById('rows');tb.replaceChildren(...d.models.map(row));"
    "document.getElementById('meta').textContent=d.server.clients+"
    "' client(s) connected, LMDB '+(d.server.mapUsed/1048576).toFixed(1)+' MiB used; updated '+"
    "new Date().toISOString();}\n"
    "async function refresh(){try{const r=await fetch('status.json'+location.search,"
    "{cache:'no-store'});if(!r.ok)throw new Error('HTTP '+r.status);show(await r.json());}"
    "catch(e){const el=document.getElementById('summary');el.className='stale';"
    "el.textContent='cannot refresh: '+e.message;}}\n"
    "refresh();setInterval(refresh,5000);\n"
    "</script></body></html>\n";

/* PSK from the header x-psk or the query ?psk=, first non-empty wins, as
 * for Socket.IO clients. No PSK configured: everyone may look. */
static bool authorized(struct sio *s, struct lws *wsi)
{
    const char *want = s->o.psk;
    if (!want || !want[0])
        return true;
    char given[512];
    int n = lws_hdr_custom_copy(wsi, given, sizeof given, "x-psk:", 6);
    if (n > 0)
        return sio_psk_equal(want, given, (size_t)n);
    const char *q = sio_http_arg(wsi, "psk=", given, sizeof given);
    return q && q[0] && sio_psk_equal(want, q, strlen(q));
}

static unsigned refuse(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype)
{
    *ctype = "text/plain";
    if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
        buf_puts(body, "method not allowed");
        return 405;
    }
    if (!authorized(s, wsi)) {
        buf_puts(body, "Unauthorized: pass the PSK as the header x-psk: KEY or the query ?psk=KEY "
                       "(in a browser: /status?psk=KEY)");
        return 401;
    }
    return 0;
}

unsigned sio_status_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype)
{
    unsigned st = refuse(s, wsi, body, ctype);
    if (st)
        return st;
    *ctype = "text/html; charset=utf-8";
    buf_append(body, page, sizeof page - 1);
    return 200;
}

/* ---- status.json: `cwcachectl status --json` plus "server" ------------------ */

/* A meta record that cannot be read shows as cold rather than failing. */
static void meta_or_cold(struct sio *s, bool read, size_t i, struct cache_meta *m)
{
    if (!read || cache_meta_get(s->rd, &s->o.schema->models[i], m) < 0)
        *m = (struct cache_meta){.state = CACHE_COLD};
}

/* Every model, as the status command lists them with no names given. */
static void models_json(struct sio *s, struct buf *b, struct cache_report_sum *sum)
{
    const struct schema *sc = s->o.schema;
    struct cache_report_clock k = sio_probe_clock(s);
    struct cache_health src = {0};
    bool read = s->rd && cache_rd_begin(s->rd) == 0;
    if (read && cache_health_get(s->rd, &src) < 0)
        src = (struct cache_health){0};
    buf_puts(b, "{\"models\":[");
    for (size_t i = 0; i < sc->n_models; i++) {
        struct cache_meta m;
        meta_or_cold(s, read, i, &m);
        if (i)
            buf_putc(b, ',');
        cache_report_model_json(b, &sc->models[i], &m, s->models[i], &k);
        cache_report_sum_add(sum, &m, s->models[i], &k);
    }
    if (read)
        cache_rd_end(s->rd);
    buf_puts(b, "],\"source\":");
    cache_report_health_json(b, &src, sum->last_ok_ms);
}

static void summary_json(struct sio *s, struct buf *b, const struct cache_report_sum *sum)
{
    buf_puts(b, ",\"summary\":");
    cache_report_summary_json(b, sum);
    struct cache_stats st = {0};
    if (s->o.cache && cache_stats_get(s->o.cache, &st) < 0)
        st = (struct cache_stats){0};
    buf_printf(b, ",\"server\":{\"clients\":%zu,\"mapSize\":%zu,\"mapUsed\":%zu}}", sio_server_sessions(s),
               st.map_size, st.map_used);
}

unsigned sio_status_json_http(struct sio *s, struct lws *wsi, struct buf *body, const char **ctype)
{
    unsigned st = refuse(s, wsi, body, ctype);
    if (st)
        return st;
    struct cache_report_sum sum = {0};
    *ctype = "application/json";
    models_json(s, body, &sum);
    summary_json(s, body, &sum);
    return 200;
}
