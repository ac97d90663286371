package redpacktest

import (
	"fmt"
	"net/netip"
)

// The texts of the answers. Those quoted in the spec (§3, §5, §9) are used
// as they stand; the PARAM_ERROR texts for single fields follow the old
// doc table's wording (spec §5.2), which gives them in English only.
const (
	desSuccess        = "发放成功"
	desQueryOK        = "OK"
	desCAError        = "CA证书出错，请登录微信支付商户平台下载证书"
	desXMLError       = "输入xml参数格式错误"
	desSignError      = "签名错误"
	desUnknownMchID   = "参数错误:商户号mch_id不存在"
	desAppIDMismatch  = "商户号和wxappid不匹配"
	desQueryAppID     = "商户号和appid不匹配"
	desIllegalAppID   = "wxappid不是公众号或小程序的appid,不能用于发放红包"
	desMiniAppID      = "wxappid是小程序的appid,发放普通红包和裂变红包请使用公众号的appid"
	desMsgAppID       = "msgappid与主、子商户号的绑定关系校验失败"
	desAcceptMode     = "服务商与子商户的受理关系校验失败"
	desNoConsume      = "该扣钱商户号没有资金授权给该商户号"
	desNoAuth         = "IP地址非你在商户平台设置的可用IP地址"
	desGroupOffline   = "裂变红包已于2024年6月5日下线,请使用普通红包"
	desFreqLimit      = "超过频率限制,请稍后再试"
	desTotalNumOne    = "参数错误:total_num必须为1"
	desTotalNumGroup  = "total_num必须介于(包括)3到20之间"
	desAmtType        = "参数错误:amt_type必须为ALL_RAND"
	desNotifyWay      = "参数错误:notify_way必须为MINI_PROGRAM_JSAPI"
	desBillType       = "参数错误:bill_type必须为MCHT"
	desSceneValue     = "参数错误:scene_id取值错误,必须为PRODUCT_1到PRODUCT_8"
	desSceneClosed    = "参数错误:该场景未开通,请登陆商户平台:产品中心-现金红包-产品设置-使用场景 进行开通"
	desMoneyLimit     = "每个红包的平均金额必须在%s元到%s元之间."
	desExpired        = "该订单已经过期，请更换商户单号"
	desOpenIDDiffers  = "openid和原始单参数不一致"
	desAmountDiffers  = "金额和原始单参数不一致"
	desSendFailed     = "该红包已经发放失败,如需重新发放,请更换商户单号"
	desNotEnough      = "帐号余额不足，请到商户平台充值后再重试"
	desSendNumLimit   = "该用户今日领取红包个数超过限制,如有需要请登录微信支付商户平台更改API安全配置"
	desRcvdAmount     = "该用户今日领取金额超过限制，如有需要请登录微信支付商户平台更改API安全配置"
	desSendAmount     = "今日发放金额超过限制,如有需要请登录微信支付商户平台更改API安全配置"
	desAccepted       = "请求已受理，请稍后使用原单号查询发放结果"
	desQueryBusy      = "系统繁忙,请稍后再试."
	desNotFound       = "指定单号数据不存在"
	desForced         = "测试注入的错误码"
	desDefaultFailure = "余额不足"
)

// rule is a documented field of an endpoint (spec §2): whether it is
// required and its maximum length in UTF-8 bytes, as WeChat counts.
type rule struct {
	name     string
	required bool
	max      int
	format   func(string) string // "" when v is well-formed, else the PARAM_ERROR text
}

// endpoint is one of the four red-packet operations.
type endpoint struct {
	op     string
	kind   Kind // "" for gethbinfo
	rules  []rule
	signed []string // the documented fields: exactly these are signed
}

func (e *endpoint) isQuery() bool { return e.kind == "" }

func billNoFormat(v string) string {
	if !isAlnum(v) {
		return "参数错误:mch_billno只能包含数字、大小写字母"
	}
	return ""
}

func intFormat(name string) func(string) string {
	return func(v string) string {
		if !isDigits(v) {
			return "参数错误:" + name + "必须为整数"
		}
		return ""
	}
}

// ipFormat wants a dotted IPv4 address: the field is String(15).
func ipFormat(v string) string {
	if a, err := netip.ParseAddr(v); err != nil || !a.Is4() || a.String() != v {
		return "参数错误:client_ip必须是合法的IP字符串"
	}
	return ""
}

var (
	ruleBillNo   = rule{"mch_billno", true, 28, billNoFormat}
	ruleMchID    = rule{"mch_id", true, 32, nil}
	ruleWxAppID  = rule{"wxappid", true, 32, nil}
	ruleSendName = rule{"send_name", true, 32, nil}
	ruleOpenID   = rule{"re_openid", true, 32, nil}
	ruleAmount   = rule{"total_amount", true, 10, intFormat("total_amount")}
	ruleNum      = rule{"total_num", true, 10, intFormat("total_num")}
	ruleWishing  = rule{"wishing", true, 128, nil}
	ruleClientIP = rule{"client_ip", true, 15, ipFormat}
	ruleActName  = rule{"act_name", true, 32, nil}
	ruleRemark   = rule{"remark", true, 256, nil}
	ruleNonce    = rule{"nonce_str", true, 32, nil}
	ruleScene    = rule{"scene_id", false, 32, nil}
	ruleRisk     = rule{"risk_info", false, 128, nil}
	ruleConsume  = rule{"consume_mch_id", false, 32, nil}
	ruleSubMch   = rule{"sub_mch_id", false, 32, nil}
	ruleMsgAppID = rule{"msgappid", false, 32, nil}
)

// endpoints are keyed by op, the last element of the path.
var endpoints = map[string]*endpoint{
	"sendredpack": newEndpoint("sendredpack", KindNormal, // spec §2.1
		ruleBillNo, ruleMchID, ruleWxAppID, ruleSendName, ruleOpenID, ruleAmount, ruleNum,
		ruleWishing, ruleClientIP, ruleActName, ruleRemark, ruleNonce,
		ruleScene, ruleRisk, ruleConsume, ruleSubMch, ruleMsgAppID),
	"sendgroupredpack": newEndpoint("sendgroupredpack", KindGroup, // spec §2.3
		ruleBillNo, ruleMchID, ruleWxAppID, ruleSendName, ruleOpenID, ruleAmount, ruleNum,
		rule{"amt_type", true, 32, nil}, ruleWishing, ruleActName, ruleRemark, ruleNonce,
		ruleScene, ruleRisk, ruleConsume, ruleSubMch, ruleMsgAppID),
	"sendminiprogramhb": newEndpoint("sendminiprogramhb", KindMiniProgram, // spec §2.6
		ruleBillNo, ruleMchID, ruleWxAppID, ruleSendName, ruleOpenID, ruleAmount, ruleNum,
		ruleWishing, ruleActName, ruleRemark, rule{"notify_way", true, 256, nil}, ruleNonce,
		ruleScene),
	"gethbinfo": newEndpoint("gethbinfo", "", // spec §2.4
		ruleBillNo, ruleMchID, rule{"appid", true, 32, nil}, rule{"bill_type", true, 32, nil}, ruleNonce),
}

func newEndpoint(op string, kind Kind, rules ...rule) *endpoint {
	e := &endpoint{op: op, kind: kind, rules: rules}
	for _, r := range rules {
		e.signed = append(e.signed, r.name)
	}
	return e
}

// checkFields applies the field rules in order and returns the PARAM_ERROR
// text of the first broken one, or "".
func (e *endpoint) checkFields(f map[string]string) string {
	for _, r := range e.rules {
		v := f[r.name]
		switch {
		case r.required && (v == "" || len(v) > r.max):
			return desRequired(r.name, r.max)
		case v == "":
			continue
		case len(v) > r.max:
			return fmt.Sprintf("参数错误:%s字段长度不能超过%d个字符", r.name, r.max)
		case r.format != nil:
			if des := r.format(v); des != "" {
				return des
			}
		}
	}
	return ""
}

// desRequired is the PARAM_ERROR text of a required field missing or too
// long (spec §5.2).
func desRequired(name string, max int) string {
	return fmt.Sprintf("参数错误:%s字段必填,并且少于%d个字符", name, max)
}

// echo lists the request fields a failure answer repeats (spec §2.2, §9):
// those the client sent, as it sent them.
func (e *endpoint) echo(f map[string]string) []field {
	var out []field
	add := func(fd field) {
		if fd.value != "" {
			out = append(out, fd)
		}
	}
	if e.isQuery() {
		add(str("mch_id", f["mch_id"]))
		add(str("mch_billno", f["mch_billno"]))
		return out
	}
	add(str("mch_billno", f["mch_billno"]))
	add(str("mch_id", f["mch_id"]))
	add(str("wxappid", f["wxappid"]))
	add(str("re_openid", f["re_openid"]))
	add(echoNum("total_amount", f["total_amount"]))
	return out
}

// yuan writes fen as WeChat writes amounts in texts: "1.00".
func yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }
