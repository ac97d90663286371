// Package campaign pays a file of openids, one red packet each, at the
// merchant's rate, resumably: a campaign can be stopped at any instant
// (a crash, SIGKILL, a reboot) and run again, on one machine or on many,
// without paying any row twice or losing an outcome.
//
//	store, err := campaign.Open(ctx, "redpack-campaigns.db") // or a postgres:// URL
//	rows, err := campaign.ParseFile(file, tmpl, campaign.ParseOptions{})
//	_, err = store.Create(ctx, campaign.Spec{Name: "spring", Template: tmpl}, rows)
//	totals, err := store.Run(ctx, "spring", campaign.RunConfig{Merchant: cfg})
//
// # The journal is the truth
//
// A Store is a SQLite file or a PostgreSQL database holding the campaign
// journal and River's job tables (https://riverqueue.com). The journal
// has one row per file row, with its bill number, the time it was first
// sent and its outcome; River only hands rows to workers. Create writes
// every row's bill number (redpack.NewBillNo) and job in one transaction,
// before anything can be sent.
//
// A worker reads the journal first. Each time a row's bill number may be
// sent (its first send, or a settle that may re-send it) the worker takes a
// new send generation for the row, a fencing token, in the transaction
// that also records when the attempt began and by when it is surely over
// (from that run's own AttemptTimeout and MaxAttempts) and, for a first
// send, counts it towards the daily caps; only then is the request made.
// So after a crash at any instant a row is either known never sent or
// known possibly sent. A possibly sent row is settled, once the deadline
// its sender stored has passed, with redpack.Client.Settle: a query first,
// and a re-send of the same request under the same bill number only when
// WeChat has no record, and only within redpack.ResendWindow of the first
// send that may have left; after that, by query alone. An attempt writes
// its result under its own generation: a refusal counts as "not paid"
// only while that generation is the newest (else it proves nothing about
// the bill number, and the row settles by query); what is about the bill
// number itself (paid, SEND_FAILED, a query's FAILED) is always written;
// a request that never left (redpack.RequestError) returns the row to
// pending. No write depends on timing, so runs with different flags and
// clocks can share a database. No transaction is held across a network
// call. A row's River job has one attempt: a job River rescues is
// discarded and the row gets a new one, so an attempt that was replaced
// can never complete its successor's job.
//
// # The money rules
//
// Refusals are sorted by what they say about the rest of the file.
// FREQ_LIMIT: the row goes again under the same bill number. NOTENOUGH:
// the row keeps its bill number and the run stops (a *StoppedError
// matching ErrBalanceLow) or, with WaitForBalance, pauses until a probe is
// paid. SENDAMOUNT_LIMIT: the day's rows wait for the next day. A
// configuration refusal (SIGN_ERROR, CA_ERROR, NO_AUTH, ILLEGAL_APPID …):
// the run stops at the first (ErrMerchantConfig) with advice. Any other
// refusal (OPENID_ERROR, SENDNUM_LIMIT, …) is reported for that row and
// never re-issued by itself; Reissue gives the rows a Selection chooses
// (by number, every not-paid row, or by err_code) a new bill number only
// when the journal holds a definite not-paid outcome for the old one, and
// ReissueDryRun says which it would. A refused bill number that waited
// past the resend window goes on under a new one, the old kept as not
// paid. Create refuses a file another campaign of the database came from
// (Spec.FileSHA256), which would pay every row twice. WeChat's daily caps
// (Limits) are counted in the journal: a row that would exceed one is
// held for the next day or reported, never sent to collect a refusal.
//
// # Outages
//
// A few requests in a row that cannot reach WeChat pause the run: no new
// row is claimed, one probe at a time goes with backoff, and the first
// answer resumes the run. An outage longer than RunConfig.OutageLimit
// stops it with ErrOutage. Rows whose requests never left stay pending.
//
// # Rate
//
// Every request a run makes, retries and queries included, waits on one
// limiter (redpack.WithLimiter). On PostgreSQL it is shared by every
// process through the database (a generic cell rate algorithm in one row,
// on the database's clock) at the merchant's rate stored in that row
// (Store.SetRate; the first run stores its own), so several runs on
// several machines keep to one rate; a run's RunConfig.Rate only paces
// that run lower. On SQLite one run at a time uses a file (a second gets
// a *BusyError) and paces itself. A request whose slot came more than a
// few milliseconds ago (the process stalled) waits for a new one, and a
// window of the process's last requests holds it to the rate in every
// second. DefaultRate sits just under WeChat's 30 requests a second.
//
// # Time limits
//
// River has no heartbeat: a killed worker's job stays running until its
// rescue. Run keeps a job's work inside a time limit derived from
// RunConfig.AttemptTimeout and MaxAttempts, and has River rescue a job
// shortly after it and its journal write, so that a restarted run
// resumes a killed run's rows within a minute or two with the defaults.
// A row claimed by an attempt that may still be sending it is not settled
// until the deadline that attempt stored, read on the settler's clock: a
// clock minutes ahead, or an attempt stalled past its deadline, only makes
// the settle start early, a second send of the same bill number, which
// the fencing keeps harmless.
//
// # Rule sets (满额送)
//
// A rule set is a campaign whose rows are made from WeChat Pay payments:
// a packet for each payment that meets a rule's condition ("spend ¥100,
// get ¥5"). ParseRules reads the rules file; DefineRules stores it under
// a name. Award judges a verified payment notification
// (redpack.Client.ParsePaymentNotification) by each rule and journals the
// outcome, the award and its River job, in one transaction that first
// locks the rule set, checks the rule's budget and the user's caps and
// takes the award's amount from them: call it before answering WeChat
// SUCCESS. An award is keyed by rule and transaction_id, so a
// notification delivered again, at once or a day later, by WeChat or to
// another process, finds it and changes nothing, and concurrent
// notifications never spend a fen past a budget.
//
// The award's job waits out AwardOptions.Hold, then (unless NoConfirm)
// asks WeChat's order query whether the order is paid with the
// notification's openid and amounts: a mismatch, an order WeChat does not
// know, or one refunded meanwhile gives the amount back to the budget and
// the caps, in the transaction that records why. A confirmed award becomes
// a row of the rule set, with its bill number and the rule's packet
// template, and is paid by Run like any row (Follow keeps a run going for
// the payments to come). Refund applies a refund notification: an award
// still waiting is cancelled and given back; one already queued is only
// reported. NotifyHandler serves both kinds of notification over HTTP,
// optionally forwarding each to the merchant's own handler. RuleStatus
// and Awards report a rule set; Status, Report and Reissue work on its
// rows as on any campaign's.
//
// # Operating
//
// List counts every campaign's rows by outcome; OpenExisting opens a
// database for reading without ever creating one; a campaign name that is
// not in the database is a *NotFoundError suggesting the closest.
package campaign
