package redpack

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// WeChat's published vector (签名算法 page), also in STYLE.md.
var wechatVector = map[string]string{
	"appid":       "wxd930ea5d5a258f4f",
	"body":        "test",
	"device_info": "1000",
	"mch_id":      "10000100",
	"nonce_str":   "ibuaiVcKdpRxkhJA",
}

const wechatVectorKey = "192006250b4c09247ec02edce69f6a2d"

func TestSignWeChatVector(t *testing.T) {
	assert.Equal(t, "9A0A8659F005D6984697E2CA0A9CF3B7", Sign(wechatVector, wechatVectorKey, SignMD5))
	assert.Equal(t, "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6",
		Sign(wechatVector, wechatVectorKey, SignHMACSHA256))
}

func TestSignSkipsSignAndEmptyValues(t *testing.T) {
	with := map[string]string{"sign": "WHATEVER", "empty": ""}
	for k, v := range wechatVector {
		with[k] = v
	}
	assert.Equal(t, "9A0A8659F005D6984697E2CA0A9CF3B7", Sign(with, wechatVectorKey, SignMD5))
}

func TestSignChangesWithEveryInput(t *testing.T) {
	base := Sign(wechatVector, wechatVectorKey, SignMD5)
	changed := map[string]string{}
	for k, v := range wechatVector {
		changed[k] = v
	}
	changed["body"] = "Test" // case matters
	assert.NotEqual(t, base, Sign(changed, wechatVectorKey, SignMD5))
	assert.NotEqual(t, base, Sign(wechatVector, "292006250b4c09247ec02edce69f6a2d", SignMD5))
}

func TestVerifySign(t *testing.T) {
	ps := []param{{"appid", "wxd930ea5d5a258f4f"}, {"body", "test"}, {"device_info", "1000"}, {"mch_id", "10000100"}, {"nonce_str", "ibuaiVcKdpRxkhJA"}}
	assert.True(t, verifySign(ps, "9A0A8659F005D6984697E2CA0A9CF3B7", wechatVectorKey, SignMD5))
	assert.True(t, verifySign(ps, "9a0a8659f005d6984697e2ca0a9cf3b7", wechatVectorKey, SignMD5), "hex case is not significant")
	assert.False(t, verifySign(ps, "9A0A8659F005D6984697E2CA0A9CF3B8", wechatVectorKey, SignMD5))
	assert.False(t, verifySign(ps, "", wechatVectorKey, SignMD5))
}

func TestSignTypeString(t *testing.T) {
	assert.Equal(t, "MD5", SignMD5.String())
	assert.Equal(t, "HMAC-SHA256", SignHMACSHA256.String())
	assert.Equal(t, "SignType(invalid)", SignType(7).String())
}
