package redpacktest

import (
	"bytes"
	"crypto/aes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
)

// refundNotification is the refund's notification body (spec §4): an
// unsigned outer message whose req_info holds the refund, encrypted with
// the merchant's API key; h.mu is held.
func refundNotification(p *payment, r *refund, a *account) ([]byte, error) {
	inner := []field{
		str("transaction_id", r.TransactionID),
		str("out_trade_no", r.OutTradeNo),
		str("refund_id", r.RefundID),
		str("out_refund_no", r.OutRefundNo),
		num("total_fee", r.TotalFee),
		num("refund_fee", r.RefundFee),
		num("settlement_refund_fee", r.RefundFee),
		str("refund_status", "SUCCESS"),
		str("success_time", wechatTime(r.SuccessTime)),
		str("refund_recv_accout", "支付用户零钱"), // WeChat's spelling
		str("refund_account", "REFUND_SOURCE_UNSETTLED_FUNDS"),
		str("refund_request_source", "API"),
	}
	reqInfo, err := encryptReqInfo(encodeDoc("root", inner), a.APIKey)
	if err != nil {
		return nil, err
	}
	return encodeDoc("xml", []field{
		str("return_code", "SUCCESS"),
		str("appid", p.AppID),
		str("mch_id", p.MchID),
		str("nonce_str", newNonce()),
		str("req_info", reqInfo),
	}), nil
}

// encryptReqInfo is WeChat's encryption of req_info, written here rather
// than borrowed from package redpack, which decrypts it: base64 of
// AES-256-ECB with PKCS#7 padding, keyed with the lower-case hex MD5 of the
// API key (32 ASCII bytes). ECB is AES on each block alone; the standard
// library has no mode for it.
func encryptReqInfo(plain []byte, apiKey string) (string, error) {
	sum := md5.Sum([]byte(apiKey))
	block, err := aes.NewCipher([]byte(hex.EncodeToString(sum[:])))
	if err != nil {
		return "", err
	}
	bs := block.BlockSize()
	pad := bs - len(plain)%bs
	data := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, len(data))
	for i := 0; i < len(data); i += bs {
		block.Encrypt(out[i:i+bs], data[i:i+bs])
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// encodeDoc writes fields under a root element, as WeChat writes its
// documents: integers bare, strings in CDATA.
func encodeDoc(root string, fs []field) []byte {
	var b bytes.Buffer
	b.WriteString("<" + root + ">")
	for _, f := range fs {
		writeField(&b, "", f)
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}
