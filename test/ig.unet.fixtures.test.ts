import { igFixtureSuite } from './ig.fixtures.js';

igFixtureSuite('unet_resnet34_c3');
