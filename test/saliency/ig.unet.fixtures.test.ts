import { igFixtureSuite } from '../support/ig-fixtures.js';

// The U-Net's IG takes ~50 s per variant on 2 cores. By default the two variants that change the
// backward pass only (original, backward-hook) are checked here: forward-hook and surrogate change
// the forward pass, and their IG is checked against Captum on ResNet18 (ig.resnet18.fixtures) and
// their grad/DeepLift on this U-Net (methods.fixtures). SDS_FULL_FIXTURES=1 checks all four here.
igFixtureSuite('unet_resnet34_c3', ['original', 'backward-hook']);
