// The public data sets SafeSteer knows by name: where each file comes from, its licence, and the exact
// bytes expected (size and sha256), so a download can be verified before it is used.
// Each URL pins the commit the copy in ../shared/data was taken from (see its MANIFEST.md).

/** One downloadable file and the bytes it must have. */
export interface DataFileSpec {
  /** File name in the data folder. */
  file: string;
  /** Source URL, pinned to a commit. */
  url: string;
  bytes: number;
  sha256: string;
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
}

const RED_INSTRUCT = "https://raw.githubusercontent.com/declare-lab/red-instruct/73c759c93d2f6b1d8c7b058ab7bcec5fb0c28fa2";
const REFUSAL_DIRECTION = "https://raw.githubusercontent.com/andyrdt/refusal_direction/9d852fae1a9121c78b29142de733cb1340770cc3";
const ADVERSARIALLLM = "https://raw.githubusercontent.com/busycalibrating/AdversariaLLM/f970939273ea17b491fadf6001fddc36ed3ae3ff";
const XSTEST = "https://raw.githubusercontent.com/paul-rottger/exaggerated-safety/d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d";

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
