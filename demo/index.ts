/** The demo models: recipes, training and held-out evaluation (used by `sds train-demo` / `evaluate-demo`). */
export { DEMO_MODELS, RECIPES, type DemoModelName, type DemoRecipe } from './recipes.js';
export { trainDemoModel, weightsPath, surrogatePath, type DemoTrainOptions, type DemoTrainResult, type DemoPhase } from './train.js';
export { evaluateDemoModel, type DemoEvaluation, type EvaluateOptions } from './evaluate.js';
