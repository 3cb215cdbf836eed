/**
 * What queue jobs carry between machines (BullMQ on Redis) and into the local queue: one slide's
 * analysis (its spec, where its results go), and the two job kinds a slide is split into. A worker
 * parses each payload before acting on it: a job written by another sds version, or by hand, is
 * refused with the field that is wrong.
 */
import { z } from 'zod';
import { analysisSpecSchema } from './analysis.js';

/** A slide's analysis settings besides the slide: the spec, the results folder, how to name the weights. */
export const slideAnalysisSchema = analysisSpecSchema.extend({
  /** results folder; the slide's analysis goes to a folder inside it */
  out: z.string().min(1),
  /** how the manifest names the weights (default: the weights path, or `random:<arch>`) */
  weightsLabel: z.string().optional(),
});
export type SlideAnalysisOptions = z.output<typeof slideAnalysisSchema>;
export type SlideAnalysisInput = z.input<typeof slideAnalysisSchema>;

/** One slide to analyse; `replace`: analyse it again even when a finished analysis is there (the viewer's "analyse"). */
export const slideTaskSchema = z.object({ slide: z.string().min(1), options: slideAnalysisSchema, replace: z.boolean().optional() });
export type SlideTask = z.output<typeof slideTaskSchema>;

const slideJobBase = z.object({
  /** absolute slide path (the same on every machine) */
  slide: z.string().min(1),
  /** slide file name, for people */
  name: z.string(),
  options: slideAnalysisSchema,
});

const count = z.number().int().min(0);

/** Compute and journal batches [from, to) of a slide. */
export const chunkJobSchema = slideJobBase.extend({ batches: z.tuple([count, count]), of: count });
export type ChunkJobData = z.output<typeof chunkJobSchema>;

/** Stitch a slide's journal into stores, tiles and the manifest (the parent of its chunks). */
export const finalizeJobSchema = slideJobBase.extend({ batches: count, chunks: count, patches: count });
export type FinalizeJobData = z.output<typeof finalizeJobSchema>;
