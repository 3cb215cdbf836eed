import { igFixtureSuite } from '../support/ig-fixtures.js';

igFixtureSuite('unet_resnet34_c3');
