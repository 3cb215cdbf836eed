export { VARIANTS, VariantModel, SurrogatePaths, SurrogatePath, isVariant, backwardHookHooks, forwardHookHooks, type Variant } from './variants.js';
export { METHODS, createMethod, isMethod, LayerGradient, LayerDeepLift, LayerIntegratedGradients, LayerGradCam } from './methods.js';
export type { AttributionMethod, AttributeOptions, AttributionResult, MethodName } from './methods.js';
export { defaultTargets, targetScalar, checkTargets } from './targets.js';
export { igSteps, legendreGauss, IG_RULES, type IgRule } from './quadrature.js';
export { totalVariation, tvReduction } from './tv.js';
export { channelMean, upscaleMap, UPSAMPLING, type Upsampling } from './maps.js';
export { composeHooks } from './compose.js';
export { roll, rollAverage } from './roll.js';
