// Mocha's spec output plus the closing line CI reads: "N passed, N failed[, N skipped]". With
// TEST_TALLY_FILE set (test/run-all.sh), the counts are also appended there to be summed; with
// TEST_FAILURES_FILE set, one line per failed test or hook (file, title, first lines of the error), so that the
// end of a long CI log, often all one gets to see, names what failed.
const { appendFileSync } = require('node:fs');
const { relative } = require('node:path');
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_FAIL } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failures = [];
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      const file = test.file ? `${relative(process.cwd(), test.file)}: ` : '';
      const lines = String(err?.message ?? err)
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean);
      failures.push(`${file}${test.fullTitle()}: ${lines.slice(0, 3).join(' / ').slice(0, 300)}`);
    });
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures: failed, pending } = runner.stats;
      const skipped = pending > 0 ? `, ${pending} skipped` : '';
      process.stdout.write(`${passes} passed, ${failed} failed${skipped}\n`);
      const tally = process.env.TEST_TALLY_FILE;
      if (tally) appendFileSync(tally, `${passes} ${failed} ${pending}\n`);
      const list = process.env.TEST_FAILURES_FILE;
      if (list && failures.length > 0) appendFileSync(list, failures.map((line) => `${line}\n`).join(''));
    });
  }
}
module.exports = SummaryReporter;
