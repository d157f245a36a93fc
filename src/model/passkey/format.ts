/**
 * The passkey document format, declared once: a document is INTRO + FILLER[:cut] + NEEDLE + FILLER[cut:] +
 * QUESTION, tokenized as a whole (BOS first), and the expected answer is the continuation ANSWER. NEEDLE and
 * ANSWER hold the key through a placeholder. The default is the format ckvlab-passkey-9m was trained on
 * (../shared/models/ckvlab-passkey-9m/README.md); other models take theirs from a small JSON file (the
 * model's train.json is one: its `answer_format` is read as `answer`) or from flags.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ModelError } from '../errors.js';

export interface PasskeyFormat {
  /** text before the filler (ends with its own separator, e.g. a newline) */
  intro: string;
  /** the sentence hidden in the filler; holds the placeholder where the key goes */
  needle: string;
  /** text after the filler, ending where the answer starts */
  question: string;
  /** the expected continuation; holds the placeholder */
  answer: string;
  /** the text in needle and answer replaced by the key */
  placeholder: string;
  /** decimal digits of a key (no leading zero) */
  keyDigits: number;
}

/** ckvlab-passkey-9m's format (its README and train.json). */
export const CKVLAB_PASSKEY_FORMAT: PasskeyFormat = {
  intro: 'There is an important pass key hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the pass key.\n',
  needle: ' The pass key is KEY. Remember it. KEY is the pass key. ',
  question: '\nWhat is the pass key? The pass key is',
  answer: ' KEY.',
  placeholder: 'KEY',
  keyDigits: 5,
};

export const passkeyFormatSchema = z
  .object({
    intro: z.string(),
    needle: z.string().min(1),
    question: z.string().min(1),
    answer: z.string().min(1),
    placeholder: z.string().min(1),
    keyDigits: z.number().int().min(1).max(15),
  })
  .strict();

/** Checks the placeholder sits in needle and answer; returns the format. */
export function checkPasskeyFormat(format: PasskeyFormat, where = 'passkey format'): PasskeyFormat {
  const parsed = passkeyFormatSchema.safeParse(format);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError(`${where}: field '${issue.path.join('.') || '(root)'}' ${issue.message.toLowerCase()}`);
  }
  for (const field of ['needle', 'answer'] as const) {
    if (!format[field].includes(format.placeholder)) throw new ModelError(`${where}: '${field}' must contain the key placeholder '${format.placeholder}', got ${JSON.stringify(format[field])}`);
  }
  return format;
}

/** Fields of a format file: any subset of PasskeyFormat (the rest from the default); `answer_format` is read as `answer`. */
const formatFileSchema = z
  .object({
    intro: z.string().optional(),
    needle: z.string().optional(),
    question: z.string().optional(),
    answer: z.string().optional(),
    answer_format: z.string().optional(),
    placeholder: z.string().optional(),
    keyDigits: z.number().optional(),
  })
  .passthrough();

/** A format from a JSON file (e.g. the model's train.json), over `base`. */
export function readPasskeyFormat(file: string, base: PasskeyFormat = CKVLAB_PASSKEY_FORMAT): PasskeyFormat {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelError(`${file}: cannot read a passkey format (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const parsed = formatFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError(`${file}: field '${issue.path.join('.') || '(root)'}' ${issue.message.toLowerCase()}`);
  }
  const f = parsed.data;
  return checkPasskeyFormat(
    {
      intro: f.intro ?? base.intro,
      needle: f.needle ?? base.needle,
      question: f.question ?? base.question,
      answer: f.answer ?? f.answer_format ?? base.answer,
      placeholder: f.placeholder ?? base.placeholder,
      keyDigits: f.keyDigits ?? base.keyDigits,
    },
    file,
  );
}

/** `template` with every placeholder replaced by the key. */
export function fillKey(template: string, format: PasskeyFormat, key: string): string {
  return template.split(format.placeholder).join(key);
}
