"""One route through the dictionary per block of text, shared by the two segmentations a complaint gets:
words with jieba's HMM (`tokenize`) and part-of-speech tags without it (`tagged_blocks`, the names of a
matter). The tags must be jieba.posseg's own, block by block."""

from __future__ import annotations

import pytest

from triage.features.tokenizer import (
    _pos_tokenizer,
    _tokenizer,
    clear_word_caches,
    tagged_blocks,
    tagged_words,
    tokenize,
)

TEXTS = [
    "A市伊景园滨河苑项目捆绑销售车位，广铁集团要求职工先交18.5万认购金！",
    "手机银行APP转账失败，错误码E1024，客服电话95588打不通（已等30分钟）",
    "魅力之城小区临街门面油烟直排扰民。abc小区 xyz公司 12345 3.5% A-B 路口",
    "浦发银行人民路支行的大堂经理态度恶劣\n第二行：ETC扣费两次",
]


@pytest.mark.parametrize("text", TEXTS)
def test_tagged_blocks_are_jieba_posseg_without_the_separators(text):
    expected = [pair for pair in tagged_words(text) if pair[1] != "x" or _in_a_block(pair[0])]
    assert [pair for block in tagged_blocks(text) for pair in block] == expected


def _in_a_block(word: str) -> bool:
    return all(ch.isalnum() or ch in "+#&._" for ch in word)


def test_the_second_segmentation_reuses_the_route_of_the_first():
    clear_word_caches()
    text = "伊景园滨河苑项目捆绑销售车位，铁路职工定向商品房违规涨价"  # no capitals: both read the same blocks
    tokenize(text)
    routes = dict(_tokenizer()._routes)
    assert routes  # the first segmentation remembered its routes
    tagged_blocks(text)
    assert dict(_tokenizer()._routes) == routes  # the second computed none


def test_a_new_word_forgets_the_routes_through_the_old_dictionary():
    clear_word_caches()
    tokenize("睿鑫宝理财平台暴雷")
    assert _tokenizer()._routes
    _tokenizer().add_word("睿鑫宝理财", 10, "nz")
    try:
        assert not _tokenizer()._routes
        _pos_tokenizer().word_tag_tab["睿鑫宝理财"] = "nz"
        assert ("睿鑫宝理财", "nz") in tagged_blocks("睿鑫宝理财平台暴雷")[0]
    finally:
        _tokenizer().del_word("睿鑫宝理财")
        _pos_tokenizer().word_tag_tab.pop("睿鑫宝理财", None)
        clear_word_caches()
