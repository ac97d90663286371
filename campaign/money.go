package campaign

import (
	"fmt"
	"strconv"
)

// CNY formats fen as yuan, as the command and the dashboard show money:
// 1000 → "¥10.00", 100000000 → "¥1,000,000.00".
func CNY(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	yuan := strconv.FormatInt(fen/100, 10)
	for i := len(yuan) - 3; i > 0; i -= 3 {
		yuan = yuan[:i] + "," + yuan[i:]
	}
	return fmt.Sprintf("%s¥%s.%02d", sign, yuan, fen%100)
}
