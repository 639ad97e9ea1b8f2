// BLEU and ROUGE-L against the two libraries' own published test cases.
//   sacrebleu: mjpost/sacrebleu@f615c7286d4d813370efb824d94fc2bfcd3a6b94 test/test_sentence_bleu.py
//     (test_cases, exp / 13a row; test_cases_zero_bleu) and test/test_bleu.py (test_case_statistics,
//     test_case_scoring, test_case_degenerate_stats).
//   rouge-score: google-research/google-research@da0c44e0b13f46c6483b01608c3e7ba014655858
//     rouge/rouge_scorer_test.py (testRougeLConsecutive, testRougeLNonConsecutive, testRougeEmpty,
//     testRougeLAgainstRouge155 on rouge/testdata/target.txt and prediction.txt lines 1-2,
//     @10bf941a5a0625bf27bb8443aa849e9b48fdd5f9).
//   Beside them, 120 random segments (1-3 references; apostrophes, decimals, entities, accents,
//   run-together words) scored by sacrebleu 2.6.0's sentence_bleu itself, saved in
//   test/fixtures/sacrebleu-2.6.0-sentence-bleu.json by this Python:
//     random.seed(7); words = "the a cat dog sat on mat Tim's hit don't 3.5 1-2 well-known , . ? ! ( ) \" ; : & &amp; x-y e.g. U.S. 100,000 -- über café naïve".split()
//     sent(): " ".join(random.choice(words) for _ in range(randint(0, 14))), with 30% of them losing 0-3 spaces
//     hyp = sent(); refs = [sent() for _ in range(randint(1, 3))]; 30%: refs[0] = hyp, or hyp + " extra words here"
//     {"hyp": hyp, "refs": refs, "bleu": sacrebleu.sentence_bleu(hyp, refs).score}
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { bleuFromStats, bleuStats, referenceScores, rougeL, rougeLF, sentenceBleu, tokenize13a } from "../../src/eval/reference-metrics.js";

const close = (actual: number, expected: number, eps: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < eps, `${what}: ${actual} vs ${expected}`);

describe("sentence BLEU = sacrebleu.sentence_bleu (13a, exp smoothing, effective order)", () => {
  it("test_sentence_bleu.py: the #98 example scores 8.493 (exp, 13a), the #141 example 0.0", () => {
    const REF = "producţia de zahăr brut se exprimă în zahăr alb;";
    const SYS = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
    close(sentenceBleu(SYS, [REF]), 8.493, 1e-3, "#98");
    assert.equal(sentenceBleu("this is a cat", ["okay thanks"]), 0);
  });

  it("120 random segments scored by sacrebleu 2.6.0 itself: equal to 1e-9", () => {
    const cases = JSON.parse(
      readFileSync(join(import.meta.dirname, "..", "fixtures", "sacrebleu-2.6.0-sentence-bleu.json"), "utf8"),
    ) as Array<{
      hyp: string;
      refs: string[];
      bleu: number;
    }>;
    assert.equal(cases.length, 120);
    assert.ok(cases.filter((c) => c.bleu > 0 && c.bleu < 100).length > 50, "mostly partial matches");
    for (const c of cases) close(sentenceBleu(c.hyp, c.refs), c.bleu, 1e-9, JSON.stringify(c));
  });

  it("test_bleu.py test_case_statistics: clipped matches [4,2,1,0] of [6,5,4,3]", () => {
    const s = bleuStats(tokenize13a("am I am a character sequence"), [tokenize13a("I am a symbol string sequence a a")]);
    assert.deepEqual(s.correct, [4, 2, 1, 0]);
    assert.deepEqual(s.total, [6, 5, 4, 3]);
    assert.deepEqual([s.sysLen, s.refLen], [6, 8]);
  });

  it("test_bleu.py test_case_scoring and test_case_degenerate_stats", () => {
    close(bleuFromStats({ correct: [9, 7, 5, 3], total: [10, 8, 6, 4], sysLen: 11, refLen: 11 }) / 100, 0.8375922397, 1e-8, "scoring");
    assert.equal(bleuFromStats({ correct: [0, 0, 0, 0], total: [4, 4, 2, 1], sysLen: 0, refLen: 1 }), 0);
    assert.equal(bleuFromStats({ correct: [0, 0, 0, 0], total: [10, 11, 12, 0], sysLen: 14, refLen: 10 }), 0);
    assert.equal(bleuFromStats({ correct: [0, 0, 0, 0], total: [0, 0, 0, 0], sysLen: 0, refLen: 0 }), 0);
  });

  it("several references: n-grams clip at the most in any one, the closest length sets the brevity penalty", () => {
    const hyp = "the cat sat on the mat";
    close(sentenceBleu(hyp, [hyp]), 100, 1e-9, "itself");
    close(sentenceBleu(hyp, ["a dog ran", hyp]), 100, 1e-9, "a perfect reference among others");
    const one = sentenceBleu(hyp, ["the cat is on the mat"]);
    assert.ok(one > 0 && one < 100);
    assert.ok(sentenceBleu(hyp, ["the cat is on the mat", "there is a cat on the mat"]) >= one);
  });

  it("13a splits punctuation and symbols but keeps apostrophes, decimals and inner hyphens", () => {
    assert.deepEqual(tokenize13a("Hello, world. It's 3.5 - ok?"), ["Hello", ",", "world", ".", "It's", "3.5", "-", "ok", "?"]);
    assert.deepEqual(tokenize13a("well-known &amp; 1-2"), ["well-known", "&", "1", "-", "2"]);
  });
});

describe("ROUGE-L F = rouge-score's RougeScorer(['rougeL'])", () => {
  it("rouge_scorer_test.py: consecutive and non-consecutive LCS, the empty prediction", () => {
    const a = rougeL("testing one two", "testing one");
    close(a.precision, 1, 1e-9, "P");
    close(a.recall, 2 / 3, 1e-9, "R");
    close(a.fmeasure, 4 / 5, 1e-9, "F");
    close(rougeL("testing one two", "testing two").fmeasure, 4 / 5, 1e-9, "non-consecutive F");
    assert.deepEqual(rougeL("testing one two", ""), { precision: 0, recall: 0, fmeasure: 0 });
  });

  it("rouge_scorer_test.py testRougeLAgainstRouge155 (ROUGE-1.5.5's numbers on its testdata)", () => {
    const targets = [
      "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n",
      "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n",
    ];
    const predictions = [
      "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n",
      "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n",
    ];
    const want = [
      [0.40741, 0.6875, 0.51163],
      [0.40476, 0.65385, 0.5],
    ];
    for (const i of [0, 1]) {
      const r = rougeL(targets[i]!, predictions[i]!);
      close(r.recall, want[i]![0]!, 5e-6, `recall ${i}`);
      close(r.precision, want[i]![1]!, 5e-6, `precision ${i}`);
      close(r.fmeasure, want[i]![2]!, 5e-6, `fmeasure ${i}`);
    }
  });

  it("several references: the best one counts (score_multi); scaled to 0-100", () => {
    close(rougeLF("testing one", ["something else", "testing one two"]), 80, 1e-9, "best of two");
  });
});

describe("referenceScores", () => {
  it("null without references; both scores with them", () => {
    assert.equal(referenceScores("an answer", undefined), null);
    assert.equal(referenceScores("an answer", []), null);
    const s = referenceScores("I can't help with that.", ["I can't help with that.", "No."])!;
    close(s.bleu, 100, 1e-9, "bleu");
    close(s.rougeL, 100, 1e-9, "rougeL");
  });
});
