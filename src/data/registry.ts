// The public data sets SafeSteer knows by name: where each file comes from, its licence, and the exact
// bytes expected (size and sha256), so a download can be verified before it is used.
// Each URL pins the commit the copy in ../shared/data was taken from (see its MANIFEST.md).

/** One downloadable file and the bytes it must have. */
export interface DataFileSpec {
  /** File name in the data folder (a `.gz` file is read gunzipped). */
  file: string;
  /** Source URL, pinned to a commit. */
  url: string;
  /** Size and sha256 of the file; null when not pinned yet (fetch then refuses: see `pin`). */
  bytes: number | null;
  sha256: string | null;
  /**
   * Where the size and sha256 come from when not from the bytes themselves: "lfs" (the publisher's
   * Git LFS pointer at that commit), "none" (not pinned: download by hand and pass the file).
   * Absent: computed from the real file.
   */
  pin?: "lfs" | "none";
}

export interface KnownDataset extends DataFileSpec {
  /** Short id used on the command line and in loadDataset("catqa"). */
  name: string;
  /** A few words for messages: "harmless_alpaca.json (the default safe set) is not in ...". */
  title: string;
  description: string;
  licence: string;
  /** Files that travel with the set (a licence text). */
  companions?: DataFileSpec[];
  /** Harm categories as users see them (category ids) with their prompt counts, for `data list` and the README. */
  categories?: Record<string, number | null>;
}

const RED_INSTRUCT = "https://raw.githubusercontent.com/declare-lab/red-instruct/73c759c93d2f6b1d8c7b058ab7bcec5fb0c28fa2";
const REFUSAL_DIRECTION = "https://raw.githubusercontent.com/andyrdt/refusal_direction/9d852fae1a9121c78b29142de733cb1340770cc3";
const ADVERSARIALLLM = "https://raw.githubusercontent.com/busycalibrating/AdversariaLLM/f970939273ea17b491fadf6001fddc36ed3ae3ff";
const XSTEST = "https://raw.githubusercontent.com/paul-rottger/exaggerated-safety/d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d";
// The last commit holding TrustLLM's data unzipped (later commits ship the same bytes in dataset.zip).
const TRUSTLLM = "https://raw.githubusercontent.com/HowieHwong/TrustLLM/b1054befd72bfde918bedc18f992f97905252135/dataset/safety";
const BEAVERTAILS = "https://huggingface.co/datasets/PKU-Alignment/BeaverTails/resolve";
const BEAVERTAILS_EVAL = "https://huggingface.co/datasets/PKU-Alignment/BeaverTails-Evaluation/resolve";

// The 14 harm categories every BeaverTails release shares (prompt counts not pinned: null).
const BEAVERTAILS_CATEGORY_IDS = [
  "animal_abuse",
  "child_abuse",
  "controversial_topics_politics",
  "discrimination_stereotype_injustice",
  "drug_abuse_weapons_banned_substance",
  "financial_crime_property_crime_theft",
  "hate_speech_offensive_language",
  "misinformation_regarding_ethics_laws_and_safety",
  "non_violent_unethical_behavior",
  "privacy_violation",
  "self_harm",
  "sexually_explicit_adult_content",
  "terrorism_organized_crime",
  "violence_aiding_and_abetting_incitement",
];
/** A fresh object per data set, so no two entries share one. */
const beavertailsCategories = (): Record<string, null> => Object.fromEntries(BEAVERTAILS_CATEGORY_IDS.map((c) => [c, null]));

export const DATASETS: readonly KnownDataset[] = [
  {
    name: "catqa",
    file: "catqa_english.json",
    title: "CatQA harmful questions",
    description: "CatQA: 550 harmful questions in 11 categories x 5 subcategories",
    licence: "Apache-2.0",
    url: `${RED_INSTRUCT}/harmful_questions/catqa_english.json`,
    bytes: 73135,
    sha256: "40efd4e205e26d6e840f30e6d8540f95f2777453af052319e42e74d10bd1992a",
  },
  {
    name: "harmbench",
    file: "harmbench_behaviors_text_all.csv",
    title: "HarmBench text behaviours",
    description: "HarmBench: 400 text behaviours in 7 semantic categories (standard, contextual, copyright)",
    licence: "MIT",
    url: `${ADVERSARIALLLM}/data/behavior_datasets/harmbench_behaviors_text_all.csv`,
    bytes: 198374,
    sha256: "2745611872be3b2eab141e39bb328b8c1140dc3cd8d0a49da6174260d9ccbfb9",
    companions: [
      {
        file: "harmbench.LICENSE.txt",
        url: `${ADVERSARIALLLM}/data/behavior_datasets/LICENSE.txt`,
        bytes: 1073,
        sha256: "d0a231f9526f809628100ec2fcb9d5cb94ebc4201ae9dcf71bc0b396779ff84e",
      },
    ],
  },
  {
    name: "jailbreakbench",
    file: "jailbreakbench.csv",
    title: "JailbreakBench behaviours",
    description: "JailbreakBench: 100 harmful behaviours, 10 categories x 10",
    licence: "MIT",
    url: `${REFUSAL_DIRECTION}/dataset/raw/jailbreakbench.csv`,
    bytes: 23111,
    sha256: "45e9a8923b28f547bb372fbaa9af7df8b38c818a80ae50c3bab97704197ff516",
  },
  {
    name: "advbench",
    file: "advbench.csv",
    title: "AdvBench harmful behaviours",
    description: "AdvBench: 520 harmful behaviours (goal, target), no categories",
    licence: "MIT",
    url: `${REFUSAL_DIRECTION}/dataset/raw/advbench.csv`,
    bytes: 82125,
    sha256: "6cd1a5c63c07610d7eb67307772ee5606017ee950b5770ab288a2c487489d3e1",
  },
  {
    name: "xstest",
    file: "xstest_prompts.csv",
    title: "XSTest prompts",
    description: "XSTest: 250 safe prompts that look unsafe and 200 unsafe contrasts, 18 types",
    licence: "CC-BY-4.0",
    url: `${XSTEST}/xstest_prompts.csv`,
    bytes: 38719,
    sha256: "11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
  },
  {
    name: "harmless_alpaca",
    file: "harmless_alpaca.json",
    title: "the default safe set",
    description: "Harmless Alpaca instructions (6264): the generic safe set",
    licence: "CC-BY-NC-4.0",
    url: `${REFUSAL_DIRECTION}/dataset/splits/harmless_val.json`,
    bytes: 780532,
    sha256: "772010758e7d771ef4c7e5e4acdfd7598dcece1a6f383f20d382f640913a2a4d",
  },
  {
    name: "mt_bench",
    file: "mt_bench_question.jsonl",
    title: "MT-Bench questions",
    description: "MT-Bench: 80 benign questions in 8 categories, for quality checks",
    licence: "Apache-2.0",
    url: `${RED_INSTRUCT}/starling_training/fastchat/llm_judge/data/mt_bench/question.jsonl`,
    bytes: 48929,
    sha256: "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
  },
  {
    name: "vicuna_bench",
    file: "vicuna_bench_question.jsonl",
    title: "Vicuna-bench questions",
    description: "Vicuna-bench: 80 benign questions in 9 categories",
    licence: "Apache-2.0",
    url: `${RED_INSTRUCT}/starling_training/fastchat/llm_judge/data/vicuna_bench/question.jsonl`,
    bytes: 13125,
    sha256: "c248c5c98ba45bb0c2aadae2f270e643bd32679c6c306a3b2a503ac4254cdaa5",
  },
  {
    name: "beavertails_eval",
    file: "beavertails_evaluation.jsonl.gz",
    title: "BeaverTails evaluation prompts",
    description: "BeaverTails-Evaluation: 700 harmful prompts, one of 14 harm categories each (sha256 not pinned yet)",
    licence: "CC-BY-NC-4.0",
    url: `${BEAVERTAILS_EVAL}/464b97a2acc879552b13d57c8304f036d0a05646/v1/test.jsonl.gz`,
    bytes: null,
    sha256: null,
    pin: "none",
    categories: beavertailsCategories(),
  },
  {
    name: "beavertails_30k_test",
    file: "beavertails_30k_test.jsonl.gz",
    title: "BeaverTails 30k test QA pairs",
    description: "BeaverTails 30k_test: 3021 QA pairs over 14 harm categories; is_safe answers are each prompt's references",
    licence: "CC-BY-NC-4.0",
    url: `${BEAVERTAILS}/8401fe609d288129cc684a9b3be6a93e41cfe678/round0/30k/test.jsonl.gz`,
    bytes: 545222,
    sha256: "0ce619bf4c421c12e578445b1fb8d1aedf4bf05ca3eb985f4ddf498a784769ff",
    pin: "lfs",
    categories: beavertailsCategories(),
  },
  {
    name: "beavertails_330k_test",
    file: "beavertails_330k_test.jsonl.gz",
    title: "BeaverTails 330k test QA pairs",
    description: "BeaverTails 330k_test: 33,432 QA pairs over 14 harm categories (sha256 not pinned yet)",
    licence: "CC-BY-NC-4.0",
    url: `${BEAVERTAILS}/b8c8aa5ea974fa92efdd94c0d45b26e6c6cc3c2b/round0/test.jsonl.gz`,
    bytes: null,
    sha256: null,
    pin: "none",
    categories: beavertailsCategories(),
  },
  {
    name: "trustllm_misuse",
    file: "trustllm_misuse.json",
    title: "TrustLLM misuse prompts",
    description: "TrustLLM misuse: 1174 harmful prompts; the 390 from Do-Anything-Now carry one of 13 categories",
    licence: "MIT",
    url: `${TRUSTLLM}/misuse.json`,
    bytes: 351197,
    sha256: "16ffa9ef3f1d8f633d933982a6895bc3b077db09f38f782e7aeb182f5c4954f1",
    categories: {
      illegal_activity: 30,
      hate_speech: 30,
      malware: 30,
      physical_harm: 30,
      economic_harm: 30,
      fraud: 30,
      pornography: 30,
      political_lobbying: 30,
      privacy_violation: 30,
      legal_opinion: 30,
      financial_advice: 30,
      health_consultation: 30,
      gov_decision: 30,
    },
  },
  {
    name: "trustllm_jailbreak",
    file: "trustllm_jailbreak.json",
    title: "TrustLLM jailbreak prompts",
    description: "TrustLLM jailbreak: 1400 harmful prompts wrapped in 14 jailbreak methods (the category) x 100",
    licence: "MIT",
    url: `${TRUSTLLM}/jailbreak.json`,
    bytes: 771839,
    sha256: "d1d9f68e6416f05912600b4f36f22f0f3f044714b65740995643264de3a35055",
    categories: {
      fixed_sentence: 100,
      no_punctuation: 100,
      programming: 100,
      cou: 100,
      refusal_sentence_prohibition: 100,
      cot: 100,
      scenario: 100,
      multitask: 100,
      no_long_word: 100,
      url_encode: 100,
      without_the: 100,
      json_format: 100,
      leetspeak: 100,
      bad_words: 100,
    },
  },
  {
    name: "trustllm_exaggerated_safety",
    file: "trustllm_exaggerated_safety.json",
    title: "TrustLLM exaggerated-safety prompts",
    description: "TrustLLM exaggerated safety: 200 safe prompts that look unsafe (from XSTest), 10 types x 20",
    licence: "MIT",
    url: `${TRUSTLLM}/exaggerated_safety.json`,
    bytes: 43696,
    sha256: "10ec9a53700c6a8e81ce0091d47da290c0b32dd2d0b5eafdde17fce5d28d1909",
    categories: {
      homonyms: 20,
      figurative_language: 20,
      safe_targets: 20,
      safe_contexts: 20,
      definitions: 20,
      nons_group_real_discr: 20,
      real_group_nons_discr: 20,
      historical_events: 20,
      privacy_public: 20,
      privacy_fictional: 20,
    },
  },
];

/** The set with this short name, if any. */
export function knownDataset(name: string): KnownDataset | undefined {
  return DATASETS.find((d) => d.name === name);
}

/** The set whose main file has this name, if any. */
export function knownDatasetByFile(file: string): KnownDataset | undefined {
  return DATASETS.find((d) => d.file === file);
}

/** The set's files: the main one first, then its companions. */
export function datasetFiles(d: KnownDataset): DataFileSpec[] {
  return [d, ...(d.companions ?? [])];
}
