package main

import (
	"github.com/spf13/cobra"
)

// settleLong is the help of the settle commands.
const settleLong = `Settles a bill number that may have been sent before with an unknown outcome
(exit 4): it queries the bill number first, and a definite status decides
(SENT, RECEIVED, RFUND_ING, REFUND: paid; FAILED: not paid). Only when WeChat
has no record of it (NOT_FOUND) does it re-send the same packet, unchanged,
under the same bill number: success is paid, SEND_FAILED not paid. Any other
refusal of that re-send (FREQ_LIMIT, SIGN_ERROR, NO_AUTH, an expired bill
number, …) says nothing about the earlier send: the outcome stays unknown.
Give exactly the fields of the first send; --query-only never re-sends (for a
bill number first sent 23 hours or more ago: WeChat expires bill numbers after
24 hours).

Exit 0 paid, 3 not paid, 4 still unknown (run it again later; never send the
payment under a new bill number).`

// newSettleCmds are settle, settle-group and settle-mini: the safe retry
// of a send whose outcome is unknown. They take the send's flags.
func newSettleCmds(e *env) []*cobra.Command {
	return []*cobra.Command{
		newPacketCmd(e, "settle --bill <mch_billno> [flags]", kindNormal,
			"settle an unknown outcome: query the bill number, re-send the same packet only if WeChat has no record",
			settleLong,
			`  # Against 'redpack fake-server --dir redpack-fake': the query finds nothing, so it sends once.
  redpack settle --merchant redpack-fake/merchant.json --bill 1900000109202501010000000001 \
      --openid oUpF8uMuAJO_M2pxb1Q9zNjWeS6o --amount 1000 --send-name 天虹百货 \
      --wishing 新年快乐 --act-name 新年红包 --remark 快来抢 --client-ip 192.168.0.1`),
		newPacketCmd(e, "settle-group --bill <mch_billno> [flags]", kindGroup,
			"settle a group packet's bill number, as settle does",
			settleLong,
			`  # Against 'redpack fake-server --dir redpack-fake':
  redpack settle-group --merchant redpack-fake/merchant.json --bill 1900000109202501010000000002 \
      --openid oUpF8uMuAJO_M2pxb1Q9zNjWeS6o --amount 3000 --num 3 --send-name 天虹百货 \
      --wishing 分享给好友 --act-name 裂变红包 --remark 三人同享`),
		newPacketCmd(e, "settle-mini --bill <mch_billno> [flags]", kindMini,
			"settle a mini-program packet's bill number, as settle does",
			settleLong,
			`  # Against 'redpack fake-server --dir redpack-fake':
  redpack settle-mini --merchant redpack-fake/merchant.json --bill 1900000109202501010000000003 \
      --mini-appid wxd27ebc41b85ce36d --openid oMiniAbCdEfGhIjKlMnOpQrStUvW --amount 1688 \
      --send-name 天虹百货 --wishing 小程序专享红包 --act-name 小程序元宵活动 --remark 打开小程序领取`),
	}
}
