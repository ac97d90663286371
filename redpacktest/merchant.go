package redpacktest

import (
	"fmt"
	"net/netip"
	"slices"
)

// The default merchant uses the ids and the public example key of WeChat
// Pay's docs and of the spec's samples, so the spec's signed sample bodies
// (§9) verify against a default server as they stand. The key is public: a
// test key only.
const (
	DefaultMchID            = "1900000109"
	DefaultAppID            = "wx8888888888888888" // an Official Account (公众号)
	DefaultMiniProgramAppID = "wxd27ebc41b85ce36d" // a mini-program (小程序), bound too, for sendminiprogramhb
	DefaultAPIKey           = "192006250b4c09247ec02edce69f6a2d"
)

// Default amounts and caps, in fen unless said otherwise. The caps are
// WeChat's documented defaults (spec §8).
const (
	DefaultBalance         int64 = 1_000_000   // 10,000 CNY
	DefaultUserDailyCount        = 10          // packets per user per day
	DefaultUserDailyAmount int64 = 100_000     // 1,000 CNY per user per day
	DefaultDailyAmount     int64 = 100_000_000 // 1,000,000 CNY per merchant per day
	DefaultSceneMinAmount  int64 = 30          // 0.30 CNY, the lowest floor a scene allows (spec §3.1)
	DefaultSceneMaxAmount  int64 = 499_900     // 4,999 CNY, the documented scene ceiling
	DefaultRateLimit             = 30          // requests per second per merchant
	minPlainAmount         int64 = 100         // 1 CNY: below it a scene_id is needed
	maxPlainAmount         int64 = 20_000      // 200 CNY: above it a scene_id is needed
	maxGroupShare          int64 = 100_000     // 1,000 CNY: one share of a group packet
)

// allScenes are the documented scene ids (spec §3.2).
var allScenes = []string{"PRODUCT_1", "PRODUCT_2", "PRODUCT_3", "PRODUCT_4", "PRODUCT_5", "PRODUCT_6", "PRODUCT_7", "PRODUCT_8"}

// Merchant is a merchant account on the fake server: its identity, its
// appids, its funds and the settings of its merchant console.
//
// When a Merchant is given to WithMerchants or AddMerchant, zero values of
// APIKey, the amount limits and the caps mean the defaults above; Balance,
// Scenes, AppIDs, MiniProgramAppIDs, AppAppIDs and AllowedIPs are taken as
// they are (a zero
// Balance is an empty account, nil Scenes enable no scene, as on merchants
// moved to the 2023 "商家红包" product). Start from DefaultMerchant to change
// one setting.
type Merchant struct {
	// MchID is the merchant id (mch_id): required, 1–32 letters or digits.
	// It is also the password of the merchant's apiclient_cert.p12.
	MchID string
	// AppID is the merchant's main Official Account appid, the one Config
	// and Client use. Required.
	AppID string
	// AppIDs are further Official Account appids bound to the merchant.
	// Every send takes them, sendminiprogramhb included, so that a
	// mini-program listed here, as before MiniProgramAppIDs existed, still
	// works; list mini-programs in MiniProgramAppIDs instead.
	AppIDs []string
	// MiniProgramAppIDs are mini-program appids (小程序) bound to the
	// merchant: sendminiprogramhb and gethbinfo take them, sendredpack and
	// sendgroupredpack refuse them with ILLEGAL_APPID, since a
	// mini-program's openid cannot receive those packets.
	MiniProgramAppIDs []string
	// AppAppIDs are mobile-app appids (open.weixin.qq.com) bound to the
	// merchant: red packets refuse them with ILLEGAL_APPID.
	AppAppIDs []string
	// APIKey is the 32-character APIv2 key.
	APIKey string
	// Balance is the available balance in fen that packets are paid from.
	Balance int64
	// Scenes are the enabled scene ids (PRODUCT_1 … PRODUCT_8). A scene_id
	// that is not enabled is refused with PARAM_ERROR 该场景未开通.
	Scenes []string
	// SceneMinAmount and SceneMaxAmount bound one packet sent with an
	// enabled scene (the per-scene limits of the console).
	SceneMinAmount, SceneMaxAmount int64
	// UserDailyCount caps packets per openid per day (SENDNUM_LIMIT).
	UserDailyCount int
	// UserDailyAmount caps fen per openid per day (RCVDAMOUNT_LIMIT).
	UserDailyAmount int64
	// DailyAmount caps the merchant's fen per day (SENDAMOUNT_LIMIT).
	DailyAmount int64
	// AllowedIPs is the console's caller-IP whitelist; when not empty, a
	// request from another address is refused with NO_AUTH.
	AllowedIPs []string
	// GroupOffline refuses every sendgroupredpack with NO_AUTH, nothing
	// paid, as WeChat refuses merchants since it took group (fission)
	// packets offline on 2024-06-05 (spec §0). false is a legacy account
	// that still accepts them.
	GroupOffline bool
}

// DefaultMerchant returns the merchant a server has unless WithMerchants
// says otherwise: DefaultMchID, DefaultAppID with DefaultMiniProgramAppID
// also bound as a mini-program, DefaultAPIKey, DefaultBalance, all eight scenes enabled and
// the default caps.
func DefaultMerchant() Merchant {
	return Merchant{
		MchID:             DefaultMchID,
		AppID:             DefaultAppID,
		MiniProgramAppIDs: []string{DefaultMiniProgramAppID},
		APIKey:            DefaultAPIKey,
		Balance:           DefaultBalance,
		Scenes:            slices.Clone(allScenes),
		SceneMinAmount:    DefaultSceneMinAmount,
		SceneMaxAmount:    DefaultSceneMaxAmount,
		UserDailyCount:    DefaultUserDailyCount,
		UserDailyAmount:   DefaultUserDailyAmount,
		DailyAmount:       DefaultDailyAmount,
	}
}

// snapshotOf returns a copy of m that shares no slice with it.
func (m Merchant) snapshotOf() Merchant {
	m.AppIDs = slices.Clone(m.AppIDs)
	m.MiniProgramAppIDs = slices.Clone(m.MiniProgramAppIDs)
	m.AppAppIDs = slices.Clone(m.AppAppIDs)
	m.Scenes = slices.Clone(m.Scenes)
	m.AllowedIPs = slices.Clone(m.AllowedIPs)
	return m
}

// normalize fills defaults, copies the slices (the caller keeps theirs)
// and checks the result.
func (m Merchant) normalize() (Merchant, error) {
	if m.APIKey == "" {
		m.APIKey = DefaultAPIKey
	}
	if m.SceneMinAmount == 0 {
		m.SceneMinAmount = DefaultSceneMinAmount
	}
	if m.SceneMaxAmount == 0 {
		m.SceneMaxAmount = DefaultSceneMaxAmount
	}
	if m.UserDailyCount == 0 {
		m.UserDailyCount = DefaultUserDailyCount
	}
	if m.UserDailyAmount == 0 {
		m.UserDailyAmount = DefaultUserDailyAmount
	}
	if m.DailyAmount == 0 {
		m.DailyAmount = DefaultDailyAmount
	}
	m = m.snapshotOf()

	switch {
	case m.MchID == "" || len(m.MchID) > 32 || !isAlnum(m.MchID):
		return m, fmt.Errorf("redpacktest: merchant id %q must be 1 to 32 letters or digits", m.MchID)
	case m.AppID == "":
		return m, fmt.Errorf("redpacktest: merchant %s has no AppID", m.MchID)
	case len(m.APIKey) != 32:
		// The length is safe to say; the key is not.
		return m, fmt.Errorf("redpacktest: merchant %s: the API key must be 32 characters, got %d", m.MchID, len(m.APIKey))
	case m.Balance < 0:
		return m, fmt.Errorf("redpacktest: merchant %s: negative balance", m.MchID)
	case m.SceneMinAmount < 1 || m.SceneMaxAmount < m.SceneMinAmount:
		return m, fmt.Errorf("redpacktest: merchant %s: scene amounts %d–%d make no range", m.MchID, m.SceneMinAmount, m.SceneMaxAmount)
	case m.UserDailyCount < 0 || m.UserDailyAmount < 0 || m.DailyAmount < 0:
		return m, fmt.Errorf("redpacktest: merchant %s: negative cap", m.MchID)
	}
	for _, s := range m.Scenes {
		if !slices.Contains(allScenes, s) {
			return m, fmt.Errorf("redpacktest: merchant %s: unknown scene %q", m.MchID, s)
		}
	}
	for _, ip := range m.AllowedIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return m, fmt.Errorf("redpacktest: merchant %s: allowed IP %q: %v", m.MchID, ip, err)
		}
	}
	return m, nil
}

// appKind says how an appid relates to the merchant.
type appKind int

const (
	appUnbound     appKind = iota
	appBound               // an Official Account (or an appid of unknown kind) bound to the merchant
	appMiniProgram         // a mini-program bound to the merchant: sendminiprogramhb only
	appMobile              // a mobile-app appid: bound, but not usable for red packets
)

func (m *Merchant) appKind(appid string) appKind {
	switch {
	case appid == m.AppID || slices.Contains(m.AppIDs, appid):
		return appBound
	case slices.Contains(m.MiniProgramAppIDs, appid):
		return appMiniProgram
	case slices.Contains(m.AppAppIDs, appid):
		return appMobile
	}
	return appUnbound
}

func (m *Merchant) ipAllowed(ip netip.Addr) bool {
	if len(m.AllowedIPs) == 0 {
		return true
	}
	for _, s := range m.AllowedIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
}
