// Every usage example of the original README, through the real npm
// socket.io-client, over the default transports (polling, then the upgrade
// to websocket) and over websocket only; answers are checked against the
// source's own rows. Then the same requests against a second server whose
// cache is cold (no poller): the live fallback must give the same data.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const L = require("./lib");

let source, server;
const byId = (rows, key) => new Map(rows.map((r) => [r[key], r]));

test.before(async () => {
  source = await L.startSource(300);
  server = await L.startServer(source);
  await L.waitReady(server);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

// The examples, each with a check of its answer against the source.
const examples = {
  "1 fetch all companies": async (s) => {
    const res = await L.emit(s, "fetchCompanies", undefined);
    assert.equal(res.success, true, res.error);
    const src = L.sql(source.db, "SELECT Company_RecID, Company_ID, Company_Name FROM Company ORDER BY Company_RecID");
    assert.equal(res.data.length, src.length);
    assert.ok(src.length >= 300);
    res.data.forEach((row, i) => {
      assert.equal(row.companyRecId, src[i].Company_RecID);
      assert.equal(row.companyName, src[i].Company_Name);
      assert.ok(!("opportunityCompanies" in row), "no relation without include");
    });
    return res;
  },
  "2 select companyId and companyName": async (s) => {
    const res = await L.emit(s, "fetchCompanies", { select: ["companyId", "companyName"] });
    assert.equal(res.success, true, res.error);
    const src = L.sql(source.db, "SELECT Company_ID, Company_Name FROM Company ORDER BY Company_RecID");
    assert.deepEqual(res.data, src.map((r) => ({ companyId: r.Company_ID, companyName: r.Company_Name })));
    return res;
  },
  "3 include opportunityCompanies": async (s) => {
    const res = await L.emit(s, "fetchCompanies", { include: ["opportunityCompanies"] });
    assert.equal(res.success, true, res.error);
    const opps = L.sql(source.db, "SELECT Opportunity_RecID, Company_RecID FROM SO_Opportunity ORDER BY Opportunity_RecID");
    const want = new Map();
    for (const o of opps) {
      if (!want.has(o.Company_RecID)) want.set(o.Company_RecID, []);
      want.get(o.Company_RecID).push(o.Opportunity_RecID);
    }
    let withOpps = 0;
    for (const c of res.data) {
      assert.ok(Array.isArray(c.opportunityCompanies));
      assert.deepEqual(c.opportunityCompanies.map((o) => o.opportunityRecId), want.get(c.companyRecId) || []);
      for (const o of c.opportunityCompanies) assert.equal(o.companyRecId, c.companyRecId);
      if (c.opportunityCompanies.length) withOpps++;
    }
    assert.ok(withOpps > 0, "some companies have opportunities");
    return res;
  },
  "4 select member fields": async (s) => {
    const res = await L.emit(s, "fetchMembers", { select: ["memberId", "firstName", "lastName"] });
    assert.equal(res.success, true, res.error);
    const src = L.sql(source.db, "SELECT Member_ID, First_Name, Last_Name FROM Member ORDER BY Member_RecID");
    assert.deepEqual(res.data, src.map((r) => ({ memberId: r.Member_ID, firstName: r.First_Name, lastName: r.Last_Name })));
    return res;
  },
  "5 fetch all products": async (s) => {
    const res = await L.emit(s, "fetchProducts", undefined);
    assert.equal(res.success, true, res.error);
    const src = L.sql(source.db, "SELECT IV_Item_RecID, Item_ID FROM IV_Item ORDER BY IV_Item_RecID");
    assert.deepEqual(res.data.map((r) => [r.ivItemRecId, r.itemId]), src.map((r) => [r.IV_Item_RecID, r.Item_ID]));
    return res;
  },
  "6 select product fields": async (s) => {
    const sel = ["ivItemRecId", "itemId", "description", "listPrice", "currentCost"];
    const res = await L.emit(s, "fetchProducts", { select: sel });
    assert.equal(res.success, true, res.error);
    const src = L.sql(source.db, "SELECT IV_Item_RecID, Item_ID, Description, List_Price, Current_Cost FROM IV_Item ORDER BY IV_Item_RecID");
    assert.equal(res.data.length, src.length);
    res.data.forEach((r, i) => {
      assert.deepEqual(Object.keys(r), sel);
      assert.equal(r.ivItemRecId, src[i].IV_Item_RecID);
      assert.equal(r.description, src[i].Description);
      if (src[i].List_Price === null) assert.equal(r.listPrice, null);
      else assert.ok(Math.abs(r.listPrice - src[i].List_Price) < 1e-4, `${r.listPrice} vs ${src[i].List_Price}`);
    });
    return res;
  },
  "7 products with subcategory, manufacturer, inventory, itemVendors": async (s) => {
    const res = await L.emit(s, "fetchProducts", { include: ["subcategory", "manufacturer", "inventory", "itemVendors"] });
    assert.equal(res.success, true, res.error);
    const inv = L.sql(source.db, "SELECT Inventory_By_Warehouse_RecID AS id, IV_Item_RecID AS item FROM Inventory_By_Warehouse ORDER BY 1");
    const ven = L.sql(source.db, "SELECT IV_Item_Vendor_ID AS id, IV_Item_RecID AS item FROM iv_item_Vendor ORDER BY 1");
    const group = (rows) => rows.reduce((m, r) => m.set(r.item, [...(m.get(r.item) || []), r.id]), new Map());
    const invBy = group(inv), venBy = group(ven);
    for (const p of res.data) {
      if (p.ivSubcatRecId === null) assert.equal(p.subcategory, null);
      else assert.equal(p.subcategory.ivSubcatRecId, p.ivSubcatRecId);
      if (p.manufacturerRecId === null) assert.equal(p.manufacturer, null);
      else assert.equal(p.manufacturer.manufacturerRecId, p.manufacturerRecId);
      assert.deepEqual(p.inventory.map((x) => x.inventoryByWarehouseRecId), invBy.get(p.ivItemRecId) || []);
      assert.deepEqual(p.itemVendors.map((x) => Number(x.ivItemVendorId)), venBy.get(p.ivItemRecId) || []);
    }
    assert.ok(res.data.some((p) => p.inventory.length), "some inventory");
    return res;
  },
  "8 nested include subcategory.category": async (s) => {
    const res = await L.emit(s, "fetchProducts", {
      include: { subcategory: { include: { category: true } }, manufacturer: true, inventory: true },
    });
    assert.equal(res.success, true, res.error);
    const sub = byId(L.sql(source.db, "SELECT IV_SubCat_RecID AS id, IV_Cat_RecID AS cat FROM IV_SubCategory"), "id");
    const cat = byId(L.sql(source.db, "SELECT IV_Cat_RecID AS id, Description AS d FROM IV_Category"), "id");
    let nested = 0;
    for (const p of res.data) {
      assert.ok(!("itemVendors" in p));
      if (!p.subcategory) continue;
      const want = sub.get(p.subcategory.ivSubcatRecId).cat;
      if (want === null) assert.equal(p.subcategory.category, null);
      else {
        assert.equal(p.subcategory.category.ivCatRecId, want);
        assert.equal(p.subcategory.category.description, cat.get(want).d);
        nested++;
      }
    }
    assert.ok(nested > 0, "some products reach a category");
    return res;
  },
};

const answers = {};
for (const [label, transports] of [["polling+upgrade", undefined], ["websocket", ["websocket"]]]) {
  test(`README examples over ${label}`, async (t) => {
    const s = await L.connect(server, transports ? { transports } : {});
    try {
      for (const [name, run] of Object.entries(examples)) {
        await t.test(name, async () => {
          answers[name] = (await run(s)).data;
        });
      }
      if (!transports) assert.ok(await L.upgraded(s), "the session moved to websocket");
      else assert.equal(s.io.engine.transport.name, "websocket");
    } finally {
      s.close();
    }
  });
}

test("cold cache: the live fallback answers with the same data", async (t) => {
  const cold = await L.startServer(source, { args: ["--poller", "false"] });
  const ready = await L.httpReq(`${cold.url}/readyz`);
  assert.equal(ready.status, 503, "nothing is warm without a poller");
  assert.match(ready.body, /"Company":"cold"/);
  const s = await L.connect(cold);
  try {
    for (const [name, run] of Object.entries(examples)) {
      await t.test(name, async () => {
        const data = (await run(s)).data;
        assert.deepEqual(data, answers[name], "same answer as from the warm cache");
      });
    }
  } finally {
    s.close();
  }
  assert.equal(await L.stopServer(cold), 0, "clean exit (no sanitizer report)");
});
