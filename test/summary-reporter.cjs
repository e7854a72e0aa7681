// Mocha's spec output plus the closing line CI reads: "N passed, N failed[, N skipped]". With
// TEST_TALLY_FILE set (test/run-all.sh), the counts are also appended there to be summed.
const { appendFileSync } = require('node:fs');
const Mocha = require('mocha');
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats;
      const skipped = pending > 0 ? `, ${pending} skipped` : '';
      process.stdout.write(`${passes} passed, ${failures} failed${skipped}\n`);
      const tally = process.env.TEST_TALLY_FILE;
      if (tally) appendFileSync(tally, `${passes} ${failures} ${pending}\n`);
    });
  }
}
module.exports = SummaryReporter;
