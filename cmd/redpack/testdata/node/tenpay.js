'use strict';
// Drives a redpack fake-server with tenpay, a Node SDK redpack did not
// write, changed only as a merchant would point it at the fake: its URLs,
// its certificate (apiclient_cert.p12, password the mch_id, as tenpay
// assumes) and trust in ca.pem (NODE_EXTRA_CA_CERTS, set by the caller).
//
//   node tenpay.js <merchant.json> <bill> <other bill> <group bill>
//
// Prints one JSON object: for each step, what tenpay returned ({"ok":
// true, ...the answer's fields}) or the error it threw ({"ok": false,
// "error": "..."}; tenpay throws the err_code on result_code FAIL). The
// answers hold no signature and no key.
const fs = require('fs');
const Tenpay = require('tenpay');

async function main() {
  const [file, bill, other, group] = process.argv.slice(2);
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  const client = key => {
    const api = new Tenpay({appid: m.appid, mchid: m.mch_id, partnerKey: key, pfx: fs.readFileSync(m.cert_p12)});
    for (const op of ['sendredpack', 'sendgroupredpack', 'gethbinfo']) {
      api.urls[op] = m.base_url + 'mmpaymkttransfers/' + op; // base_url ends in "/"
    }
    return api;
  };
  const api = client(m.api_key);
  const packet = {
    mch_billno: bill, send_name: '天虹百货', re_openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', total_amount: 1000,
    wishing: '感谢您参加猜灯谜活动，祝您元宵节快乐！', act_name: '猜灯谜抢红包活动', remark: '猜越多得越多，快来抢！',
    client_ip: '192.168.0.1',
  };
  const out = {};
  const step = async (name, call) => {
    try {
      out[name] = {ok: true, ...(await call())};
    } catch (e) {
      out[name] = {ok: false, error: e.message};
    }
  };
  await step('send', () => api.sendRedpack(packet));
  await step('resend', () => api.sendRedpack(packet));
  await step('changed', () => api.sendRedpack({...packet, total_amount: 2000}));
  await step('bad_key', () => client('0'.repeat(32)).sendRedpack({...packet, mch_billno: other}));
  const {client_ip: _, ...groupPacket} = packet; // not a field of sendgroupredpack
  await step('group', () => api.sendGroupRedpack({...groupPacket, mch_billno: group, total_amount: 900, total_num: 3}));
  // The user opens the packet (the fake's control API), then the query
  // reads it back from the ledger.
  const claim = await fetch(m.admin_url + 'packets/' + bill + '/claim', {method: 'POST'});
  if (!claim.ok) throw new Error('claim: HTTP ' + claim.status + ': ' + (await claim.text()));
  await step('query', () => api.redpackQuery({mch_billno: bill}));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
