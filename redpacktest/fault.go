package redpacktest

import (
	"fmt"
	"time"
)

// FaultKind is a way the server misbehaves on purpose, to test what a
// client does when WeChat's answer is unclear (spec §10 item 8).
//
// "Before commit" kinds answer without looking at the request further:
// nothing is paid. "After commit" kinds first judge and carry out the
// request as usual (it may pay, or be refused), then spoil the answer; the
// ledger shows what really happened.
type FaultKind int

// The fault kinds.
const (
	// SystemErrorBeforeCommit answers SYSTEMERROR; nothing is paid.
	SystemErrorBeforeCommit FaultKind = iota + 1
	// SystemErrorAfterCommit carries the request out, then answers
	// SYSTEMERROR: the packet is paid although the answer says nothing sure.
	SystemErrorAfterCommit
	// ProcessingBeforeCommit answers PROCESSING; nothing is recorded, so
	// gethbinfo answers NOT_FOUND and a re-send pays normally.
	ProcessingBeforeCommit
	// ProcessingAfterCommit carries the request out and answers PROCESSING;
	// a new packet is paid but stays SENDING for Fault.Hold, then is SENT.
	ProcessingAfterCommit
	// ProcessingThenFail answers PROCESSING; a new, valid packet is recorded
	// SENDING without being paid and turns FAILED (Fault.Reason) after
	// Fault.Hold. It is the PROCESSING that hides a funding problem.
	ProcessingThenFail
	// SlowAfterCommit carries the request out, then waits Fault.Delay (real
	// time) before answering normally. Make Delay longer than the client's
	// timeout to test a timeout after payment. The wait ends early when the
	// client goes away or the server closes.
	SlowAfterCommit
	// DropAfterCommit carries the request out, then closes the connection
	// without an answer.
	DropAfterCommit
	// HTMLGateway answers an HTTP 502 HTML page, as a failing gateway in
	// front of WeChat would; nothing is paid.
	HTMLGateway
	// TruncatedBody carries the request out, then writes half of the XML
	// answer and closes the connection.
	TruncatedBody
	// ErrCodeAnswer answers result_code=FAIL with Fault.ErrCode and
	// Fault.ErrCodeDes, nothing paid: for codes the rules never produce
	// (API_METHOD_CLOSED, OPENID_ERROR, a code WeChat may add later …).
	ErrCodeAnswer
)

var faultNames = map[FaultKind]string{
	SystemErrorBeforeCommit: "SystemErrorBeforeCommit",
	SystemErrorAfterCommit:  "SystemErrorAfterCommit",
	ProcessingBeforeCommit:  "ProcessingBeforeCommit",
	ProcessingAfterCommit:   "ProcessingAfterCommit",
	ProcessingThenFail:      "ProcessingThenFail",
	SlowAfterCommit:         "SlowAfterCommit",
	DropAfterCommit:         "DropAfterCommit",
	HTMLGateway:             "HTMLGateway",
	TruncatedBody:           "TruncatedBody",
	ErrCodeAnswer:           "ErrCodeAnswer",
}

// String returns the kind's Go name.
func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

func (k FaultKind) beforeCommit() bool {
	return k == SystemErrorBeforeCommit || k == ProcessingBeforeCommit || k == HTMLGateway || k == ErrCodeAnswer
}

// Fault is one scripted misbehaviour. Injected faults wait in a queue; each
// request that passes the certificate, rate-limit and signature checks
// takes the first fault that matches it, so a script of faults plays out
// in order, one request each.
type Fault struct {
	// Op is the endpoint the fault waits for ("sendredpack",
	// "sendgroupredpack", "sendminiprogramhb", "gethbinfo"), or "" for any.
	Op string
	// MchBillNo is the bill number the fault waits for, or "" for any.
	MchBillNo string
	Kind      FaultKind
	// Delay is real time to wait before answering (or before dropping the
	// connection). Required for SlowAfterCommit; allowed with any kind.
	Delay time.Duration
	// Hold is server-clock time a packet stays SENDING under
	// ProcessingAfterCommit or ProcessingThenFail; DefaultHold if zero.
	Hold time.Duration
	// Reason is the failure reason of a ProcessingThenFail packet;
	// 余额不足 if empty.
	Reason string
	// ErrCode and ErrCodeDes are the answer of ErrCodeAnswer; ErrCodeDes
	// defaults to a generic text.
	ErrCode    string
	ErrCodeDes string
}

func (f *Fault) check() error {
	if _, ok := faultNames[f.Kind]; !ok {
		return fmt.Errorf("redpacktest: Inject: unknown fault kind %d", int(f.Kind))
	}
	if f.Op != "" {
		if _, ok := endpoints[f.Op]; !ok {
			return fmt.Errorf("redpacktest: Inject: unknown op %q", f.Op)
		}
	}
	if f.Delay < 0 || f.Hold < 0 {
		return fmt.Errorf("redpacktest: Inject: negative Delay or Hold")
	}
	if f.Kind == SlowAfterCommit && f.Delay == 0 {
		return fmt.Errorf("redpacktest: Inject: SlowAfterCommit needs a Delay")
	}
	if f.Kind == ErrCodeAnswer && f.ErrCode == "" {
		return fmt.Errorf("redpacktest: Inject: ErrCodeAnswer needs an ErrCode")
	}
	return nil
}

func (f *Fault) matches(op, billNo string) bool {
	return (f.Op == "" || f.Op == op) && (f.MchBillNo == "" || f.MchBillNo == billNo)
}
