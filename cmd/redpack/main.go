// Command redpack sends WeChat Pay cash red packets (现金红包, APIv2) and
// looks them up, with the redpack SDK.
//
// Usage:
//
//	redpack <command> [flags] [arguments]
//
// The commands are:
//
//	send          send a normal red packet to one user (sendredpack)
//	send-group    send a group (fission) packet (sendgroupredpack; offline at WeChat since 2024-06-05)
//	send-mini     send a mini-program packet (sendminiprogramhb) and print the wx.sendBizRedPacket arguments
//	settle        settle an unknown outcome by bill number (settle-group, settle-mini for the others)
//	query         look a packet up by its bill number (gethbinfo)
//	campaign      pay a file of openids, resumable after a crash: create, run, status, list, report, reissue, rate
//	rules         a packet for a payment that meets a rule (满额送): check, serve, status, report
//	demo          the whole flow on a built-in fake WeChat Pay server: no account needed
//	fake-server   serve the fake WeChat Pay server for tests in any language
//	completion    print a shell completion script: bash, zsh, fish or powershell
//	help          show help, or a command's: redpack help send
//
// The commands are cobra commands (root.go builds the tree anew for every
// run): every one has --help with an example, a mistyped command gets a
// suggestion, and "redpack completion bash|zsh|fish" completes commands,
// flags, their fixed values and campaign names.
//
// Try it without an account:
//
//	go run ./cmd/redpack demo
//
// # A fake server for tests in any language
//
// fake-server serves redpacktest's fake WeChat Pay server as a program, for
// a Java, PHP or Python service's own tests (WeChat has no sandbox for red
// packets):
//
//	redpack fake-server --dir ./wechat-fake
//
// It listens on https://127.0.0.1:8443/ (mutual TLS) and writes the
// client's credentials to the directory: ca.pem, apiclient_cert.p12
// (password = mch_id), apiclient_cert.pem, apiclient_key.pem and
// merchant.json (mch_id, appid, api_key, base_url). A control API on
// http://127.0.0.1:8444/ reads the ledger, claims packets, moves the clock,
// scripts faults and resets. "redpack help fake-server" has the details.
//
// # Credentials
//
// Every flag has an environment variable; a flag overrides it. Secrets are
// never printed: not in output, errors, logs or help.
//
//	--merchant       REDPACK_MERCHANT       JSON file of the settings below (fake-server's merchant.json)
//	--mch-id         REDPACK_MCH_ID         merchant id (商户号)
//	--appid          REDPACK_APPID          Official Account appid
//	--api-key        REDPACK_API_KEY        the 32-character APIv2 key ("-" reads it from stdin)
//	--cert-p12       REDPACK_CERT_P12       apiclient_cert.p12
//	--cert-password  REDPACK_CERT_PASSWORD  its password; default the mch_id
//	--cert-pem       REDPACK_CERT_PEM       or apiclient_cert.pem …
//	--key-pem        REDPACK_KEY_PEM        … with apiclient_key.pem
//	--ca-cert        REDPACK_CA_CERT        extra server roots (PEM), e.g. a fake server's CA
//	--base-url       REDPACK_BASE_URL       default https://api.mch.weixin.qq.com/
//
// send-mini's --mini-appid, the mini-program's appid, has
// REDPACK_MINI_APPID.
//
// The --merchant file has the shape of fake-server's merchant.json: mch_id,
// appid, api_key, cert_p12 and cert_password (or cert_pem and key_pem),
// ca_cert and base_url; relative paths are relative to the file. A flag or
// variable overrides its field, and a certificate given by flag replaces
// the file's whole. The file, a key and a .p12 must be private to their
// owner (chmod 600), or the command refuses them, as ssh does.
//
// Prefer the environment for the API key: command-line flags are visible
// to other users of the machine.
//
// Every command that talks to WeChat also takes --max-attempts (default 3;
// 1 turns the client's own retries off), --timeout (per attempt, default
// 30s), --verbose (log each attempt to stderr, without secrets) and --json.
//
// # Sending
//
//	redpack send --openid oUpF8uMuAJO_M2pxb1Q9zNjWeS6o --amount 1000 \
//	    --send-name 天虹百货 --wishing 新年快乐 --act-name 新年红包 \
//	    --remark 快来抢 --client-ip 192.168.0.1
//
// The bill number (--bill, default redpack.NewBillNo) is printed before
// anything is sent. It is the packet's identity: after an unknown outcome,
// settle it with "redpack settle" and the same --bill and fields (it
// queries first, and re-sends the same packet only if WeChat has no record
// of it); never send the payment under a new bill number, which can pay
// twice.
//
// With --json a command prints one JSON object on stdout:
// {"ok":true,"command":…,"result":{…}} or
// {"ok":false,"command":…,"exit_code":…,"error":{"kind":…,"err_code":…,"mch_billno":…,"advice":…}}.
//
// # Exit codes
//
//	0  success
//	1  any other failure
//	2  bad input: flags, a field the client refused to send, or bad credentials; nothing was sent
//	3  not paid: WeChat refused a new bill number definitely (err_code), or settle found it not paid
//	4  outcome unknown: the packet may have been paid; settle it with the same --bill and fields
//	   (a query's NOT_FOUND, and a refusal of a send with an explicit --bill, are unknown too)
//	5  not sent: the request never reached WeChat (network); safe to run again
//
// "campaign run" adds three, for a run that stopped before its end (the
// rows wait with their bill numbers; nothing is lost):
//
//	5  WeChat could not be reached for --outage-limit
//	6  the balance is too low (NOTENOUGH): top up, then run again
//	7  WeChat refused a setting every row shares (SIGN_ERROR, NO_AUTH …): fix it, then run again
//	130 stopped by Ctrl-C or SIGTERM
//
// "rules serve" exits with the same codes when its payer stops, and 130
// when it is stopped.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
)

// Exit codes. They are part of the command's interface: scripts branch on
// them, and help prints them.
const (
	exitOK      = 0 // success
	exitFailure = 1 // anything else
	exitUsage   = 2 // bad flags, validation error or bad credentials: nothing was sent
	exitRefused = 3 // WeChat's definite refusal, or a settled "not paid": nothing was paid
	exitUnknown = 4 // the packet may or may not have been paid
	exitNotSent = 5 // the request never reached WeChat: safe to retry
)

// exitCodeHelp is the exit-code table help prints.
var exitCodeHelp = [][2]string{
	{"0", "success"},
	{"1", "any other failure"},
	{"2", "bad input: flags, a field the client refused to send, or bad credentials; nothing was sent"},
	{"3", "not paid: WeChat refused a new bill number definitely (an err_code such as NOTENOUGH),\nor settle found it not paid"},
	{"4", "outcome unknown: the packet MAY have been paid. Settle it with 'redpack settle' and the\nSAME --bill and fields; never send it under a new bill number. A send with an explicit\n--bill that WeChat refuses exits 4 too: that says nothing about an earlier send of it"},
	{"5", "not sent: the request never reached WeChat (network); safe to run again with the same --bill"},
}

func main() {
	// SIGTERM too: fake-server is stopped that way by CI runners and
	// container engines, and a send then ends as on Ctrl-C.
	// The handler stays until the process exits: a signal that comes after
	// the command finished must not kill it and hide its exit code (a
	// campaign run that paid every row exits 0, not "killed by SIGTERM").
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// env is what a command may touch of the outside world; tests supply their
// own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// flagCompletions register dynamic flag completions; run calls them
	// only for a completion request (see registerChoiceCompletions).
	flagCompletions []func()
}

// run is the whole program, minus the process: it reads args and the
// environment through getenv, writes to stdout and stderr, and returns the
// exit code. It builds its own command tree, so that calls share nothing.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRootCmd(e)
	if isCompletionRequest(args) {
		registerChoiceCompletions(root)
		for _, f := range e.flagCompletions {
			f()
		}
	}
	// Never nil: cobra reads os.Args for a nil slice.
	root.SetArgs(append([]string{}, oneDashLongFlags(root, args)...))
	return exitCode(stderr, root.ExecuteContext(ctx))
}

func writeExitCodes(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range exitCodeHelp {
		lines := strings.Split(c[1], "\n")
		fmt.Fprintf(tw, "  %s\t%s\n", c[0], lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "  \t%s\n", l)
		}
	}
	tw.Flush()
}
